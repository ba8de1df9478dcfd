// Child-process entry for test/helpers/s3rver.ts: runs s3rver (a local
// S3-compatible server) until SIGTERM/SIGINT.
//   node s3rver-child.mjs --port N --directory DIR [--bucket NAME]...
// Prints one line `S3RVER_LISTENING {"address":..,"port":..}` when serving.
import S3rver from 's3rver';

const argv = process.argv.slice(2);
let port = 0;
let directory = '';
const buckets = [];
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--port') port = Number(argv[++i]);
  else if (a === '--directory') directory = argv[++i];
  else if (a === '--bucket') buckets.push(argv[++i]);
  else if (a === '--verbose') process.env.S3RVER_VERBOSE = '1';
  else {
    console.error(`s3rver-child: unknown argument ${a}`);
    process.exit(2);
  }
}
if (!directory) {
  console.error('s3rver-child: --directory is required');
  process.exit(2);
}

const server = new S3rver({
  address: '127.0.0.1',
  port,
  directory,
  silent: !process.env.S3RVER_VERBOSE,
  configureBuckets: buckets.map((name) => ({ name })),
  // Path-style only: "bucket.localhost" virtual hosts are never used by tests.
  vhostBuckets: false,
});
const addr = await server.run();
console.log(`S3RVER_LISTENING ${JSON.stringify({ address: addr.address, port: addr.port })}`);

let closing = false;
const shutdown = () => {
  if (closing) return;
  closing = true;
  server.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
