/**
 * Where the Apache Kafka 3.9.0 jars live (installed by
 * scripts/install-test-deps.sh from Maven Central into a cache outside git):
 *   ${STREAMHOUSE_CACHE:-$HOME/.cache/streamhouse}/kafka-3.9.0/libs
 * They hold the broker (kafka_2.13), the tools (kafka-tools) and the Java
 * client (kafka-clients) used by compat-tests/java.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const KAFKA_VERSION = '3.9.0';
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const INSTALL_SCRIPT = path.join(REPO_ROOT, 'scripts', 'install-test-deps.sh');
/** log4j 1.x config for the broker (INFO to stdout). */
export const LOG4J_BROKER = path.join(REPO_ROOT, 'scripts', 'kafka', 'log4j.properties');
/** log4j 1.x config for tools and Java client programs (WARN to stderr). */
export const LOG4J_TOOLS = path.join(REPO_ROOT, 'scripts', 'kafka', 'log4j-tools.properties');

export function streamhouseCacheDir(): string {
  return process.env.STREAMHOUSE_CACHE || path.join(os.homedir(), '.cache', 'streamhouse');
}

export function kafkaHome(): string {
  return path.join(streamhouseCacheDir(), `kafka-${KAFKA_VERSION}`);
}

export function kafkaLibsDir(): string {
  return path.join(kafkaHome(), 'libs');
}

/** Java classpath with every jar: '<libs>/*'. */
export function kafkaClasspath(): string {
  return path.join(kafkaLibsDir(), '*');
}

/** True when the install script finished copying the jars (marker file + broker and client jars). */
export function kafkaLibsPresent(): boolean {
  const libs = kafkaLibsDir();
  return (
    fs.existsSync(path.join(kafkaHome(), '.complete')) &&
    fs.existsSync(path.join(libs, `kafka_2.13-${KAFKA_VERSION}.jar`)) &&
    fs.existsSync(path.join(libs, `kafka-clients-${KAFKA_VERSION}.jar`))
  );
}

/**
 * Returns the libs dir. When the jars are missing: with `install: true`
 * (default) runs `scripts/install-test-deps.sh --jars-only` (needs Maven and
 * the network to Maven Central, ~40 s), otherwise throws with the command to run.
 */
export function ensureKafkaLibs(opts: { install?: boolean } = {}): string {
  if (kafkaLibsPresent()) return kafkaLibsDir();
  if (opts.install === false) {
    throw new Error(
      `Kafka ${KAFKA_VERSION} jars not found in ${kafkaLibsDir()}; run: bash scripts/install-test-deps.sh --jars-only`,
    );
  }
  const r = spawnSync('bash', [INSTALL_SCRIPT, '--jars-only'], { encoding: 'utf8', timeout: 15 * 60_000 });
  if (r.status !== 0 || !kafkaLibsPresent()) {
    throw new Error(
      `Installing the Kafka ${KAFKA_VERSION} jars failed (exit ${r.status}${r.signal ? `, ${r.signal}` : ''}): ` +
        `bash ${INSTALL_SCRIPT} --jars-only\n${r.stdout ?? ''}${r.stderr ?? ''}`,
    );
  }
  return kafkaLibsDir();
}
