// The board definition schema is protocol's (shared by images, boot-control and the agent);
// this module keeps board-support's names and adds the partition helpers.
import {
  parseBoardDefinition as parseProtocolBoard,
  type BoardDefinition,
  type PartitionRole,
} from '@fleet/protocol';

export {
  BoardByteSize as ByteSize,
  BoardBootFile as BootFile,
  BoardDefinition,
  BoardPartition as Partition,
  PartitionRole,
} from '@fleet/protocol';
export type { BoardDefinitionInput } from '@fleet/protocol';

export type ParseResult<T> = { ok: true; value: T } | { ok: false; issues: string[] };

/** Validate a board definition; issues name the JSON path (`$.bootState.offsets[1]`). */
export function parseBoardDefinition(input: unknown): ParseResult<BoardDefinition> {
  const result = parseProtocolBoard(input);
  if (result.ok) return result;
  return { ok: false, issues: result.error.issues.map((i) => `${i.path}: ${i.message}`) };
}

export function partitionNumber(board: BoardDefinition, role: PartitionRole): number {
  const index = board.partitions.findIndex((p) => p.role === role);
  if (index < 0) throw new Error(`board ${board.name} has no ${role} partition`);
  return index + 1;
}

export function partitionDevice(board: BoardDefinition, role: PartitionRole): string {
  return `${board.disk.partitionPrefix}${partitionNumber(board, role)}`;
}
