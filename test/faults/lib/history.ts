// The history a fault run records: one JSON object per line. Every send
// (value, acknowledged offset or error) and every poll (partition, offset,
// value), the consumers' assignment changes, and the final read-backs.

export type HistoryEvent =
  | { type: 'send'; producer: string; topic: string; partition: number; value: string; offset: number | null; error: string | null; t: number }
  | { type: 'poll'; consumer: string; topic: string; partition: number; offset: number; value: string; t: number }
  /** The consumer's position was reset (assignment, rebalance, seek): the next poll may go back. */
  | { type: 'reposition'; consumer: string; topic: string; partition: number; t: number }
  | { type: 'readback'; reader: string; topic: string; partition: number; offset: number; value: string }
  | { type: 'fault'; name: string; t: number; detail?: string };

export function parseHistory(text: string): HistoryEvent[] {
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as HistoryEvent);
}
