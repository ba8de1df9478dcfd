// Runs Kafka's command-line tools (their main classes, from the Kafka 3.9
// jars) one after the other inside ONE JVM, so the compat matrix's CLI row does
// not pay a JVM start (2-4 s on 2 cores) per command:
//
//   java -cp '<cache>/java:<kafka-3.9.0/libs>/*' ToolRunner
//
// Protocol (stdin -> stdout, one line each):
//   request:  base64(main class) TAB base64(stdin text) [TAB base64(arg)]...
//   response: {"code":N,"out":"<base64 stdout>","err":"<base64 stderr>"}
//
// The tool's main(String[]) runs as the kafka-*.sh scripts run it, with
// System.in/out/err (and so scala.Console, which captured them at start)
// switched to this command's buffers. Exit, as a JVM exit would: the first
// call of org.apache.kafka.common.utils.Exit.exit/halt (which the Java and the
// Scala tools call) ends the command with that status and parks the calling
// thread for good, so no catch or finally block of the tool runs after it; a
// main that returns ends it with 0. Then the shutdown hooks the tool
// registered through Exit.addShutdownHook run (5 s at most each), as at a
// JVM exit.
import java.io.*;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.util.*;
import java.util.concurrent.*;
import java.util.concurrent.locks.LockSupport;
import org.apache.kafka.common.utils.Exit;

public class ToolRunner {
  /** The current command's outcome (its exit status). */
  static volatile CompletableFuture<Integer> current = new CompletableFuture<>();
  static final List<Runnable> hooks = Collections.synchronizedList(new ArrayList<>());

  static void exitCalled(int code) {
    current.complete(code);
    for (;;) LockSupport.park(); // like System.exit: nothing after it runs
  }

  static final class SwitchOut extends OutputStream {
    volatile OutputStream target = OutputStream.nullOutputStream();

    @Override public void write(int b) throws IOException { target.write(b); }
    @Override public void write(byte[] b, int off, int len) throws IOException { target.write(b, off, len); }
    @Override public void flush() throws IOException { target.flush(); }
  }

  static final class SwitchIn extends InputStream {
    volatile InputStream source = InputStream.nullInputStream();

    @Override public int read() throws IOException { return source.read(); }
    @Override public int read(byte[] b, int off, int len) throws IOException { return source.read(b, off, len); }
    @Override public int available() throws IOException { return source.available(); }
  }

  public static void main(String[] argv) throws Exception {
    PrintStream proto = new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);
    BufferedReader requests = new BufferedReader(new InputStreamReader(new FileInputStream(FileDescriptor.in), StandardCharsets.UTF_8));
    SwitchOut out = new SwitchOut(), err = new SwitchOut();
    SwitchIn in = new SwitchIn();
    System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
    System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
    System.setIn(in);
    Exit.setExitProcedure((code, msg) -> exitCalled(code));
    Exit.setHaltProcedure((code, msg) -> exitCalled(code));
    Exit.setShutdownHookAdder((name, hook) -> hooks.add(hook));
    Base64.Decoder dec = Base64.getDecoder();
    Base64.Encoder enc = Base64.getEncoder();
    String line;
    while ((line = requests.readLine()) != null) {
      if (line.isEmpty()) continue;
      String[] f = line.split("\t", -1);
      String cls = new String(dec.decode(f[0]), StandardCharsets.UTF_8);
      byte[] input = dec.decode(f[1]);
      String[] args = new String[f.length - 2];
      for (int i = 2; i < f.length; i++) args[i - 2] = new String(dec.decode(f[i]), StandardCharsets.UTF_8);
      ByteArrayOutputStream bo = new ByteArrayOutputStream(), be = new ByteArrayOutputStream();
      out.target = bo;
      err.target = be;
      in.source = new ByteArrayInputStream(input);
      CompletableFuture<Integer> done = new CompletableFuture<>();
      current = done;
      hooks.clear();
      Thread t = new Thread(() -> {
        try {
          Method m = Class.forName(cls).getMethod("main", String[].class);
          m.invoke(null, (Object) args);
          done.complete(0);
        } catch (InvocationTargetException e) {
          e.getCause().printStackTrace(System.err); // an uncaught exception: the JVM would print it and exit 1
          done.complete(1);
        } catch (Throwable e) {
          e.printStackTrace(System.err);
          done.complete(1);
        }
      }, "tool-main");
      t.setDaemon(true);
      t.start();
      int code;
      try {
        code = done.get();
      } catch (ExecutionException e) {
        code = 1;
      }
      List<Runnable> toRun;
      synchronized (hooks) {
        toRun = new ArrayList<>(hooks);
        hooks.clear();
      }
      for (Runnable hook : toRun) {
        Thread ht = new Thread(hook, "tool-shutdown-hook");
        ht.setDaemon(true);
        ht.start();
        ht.join(5000);
      }
      System.out.flush();
      System.err.flush();
      out.target = OutputStream.nullOutputStream();
      err.target = OutputStream.nullOutputStream();
      in.source = InputStream.nullInputStream();
      proto.println("{\"code\":" + code + ",\"out\":\"" + enc.encodeToString(bo.toByteArray()) + "\",\"err\":\"" + enc.encodeToString(be.toByteArray()) + "\"}");
    }
  }
}
