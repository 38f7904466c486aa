import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsInt, IsOptional, Matches } from 'class-validator';
import { IsIntBetween } from '../../common/http/field-rules';

/**
 * A whole number from the query string. Zero and negative numbers are well-formed: the contract answers
 * them 422 NOT_IN_TREE, like any other size or sequence outside the tree.
 */
const toInt = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && /^-?[0-9]{1,15}$/.test(value) ? Number(value) : value;
const WHOLE = { message: '$property must be a whole number' };

const B64 = 'n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=';

export class LedgerKeyDto {
  @ApiProperty({ example: 'hfts.local/ledger', description: 'The first line of every checkpoint' })
  origin!: string;
  @ApiProperty({ example: 'hfts.local/ledger', description: 'The name in the signature lines' })
  keyName!: string;
  @ApiProperty({
    example: 'hfts.local/ledger+1c6a0b2f+AYs0T3d5Cq0sZ3hR0kE1n3pQm8b7p8cJ3m7l4iYk2VQo',
    description:
      'Go sumdb/note verifier key: `<key name>+<key id, 8 hex>+<base64(0x01 || Ed25519 public key)>`',
  })
  verifierKey!: string;
}

export class CheckpointDto {
  @ApiProperty({ example: 'hfts.local/ledger' }) origin!: string;
  @ApiProperty({ type: 'integer', example: 1042, description: 'Leaves in the tree: events 1..treeSize' })
  treeSize!: number;
  @ApiProperty({ example: B64, description: 'RFC 9162 root hash, standard base64' }) rootHash!: string;
  @ApiProperty({
    example: `hfts.local/ledger\n1042\n${B64}\n\n— hfts.local/ledger HGoLL2Ftq0v...\n`,
    description: 'The C2SP tlog-checkpoint in a C2SP signed-note, signed with Ed25519',
  })
  note!: string;
  @ApiProperty({ format: 'date-time', example: '2025-11-24T10:15:31.000Z' }) createdAt!: string;
}

export class CheckpointPageDto {
  @ApiProperty({ type: [CheckpointDto], description: 'Oldest (smallest) first' }) items!: CheckpointDto[];
  @ApiProperty({
    type: 'string',
    nullable: true,
    example: '1042',
    description: 'Pass as `after` for the next page; null on the last page',
  })
  nextCursor!: string | null;
}

export class CheckpointsQueryDto {
  @ApiPropertyOptional({
    description: 'The nextCursor of the previous page (a tree size); none: from the size-0 checkpoint',
    example: '1042',
    pattern: '^(0|[1-9][0-9]{0,17})$',
  })
  @IsOptional()
  @Matches(/^(0|[1-9][0-9]{0,17})$/, { message: 'after must be a nextCursor: a whole number' })
  after?: string;

  @ApiPropertyOptional({
    type: 'integer',
    minimum: 1,
    maximum: 100,
    example: 20,
    description: 'Page size (default: 20)',
  })
  @IsOptional()
  @Transform(toInt)
  @IsIntBetween(1, 100)
  limit?: number;
}

export class InclusionQueryDto {
  @ApiProperty({ type: 'integer', example: 1042, description: 'The event whose inclusion is proved' })
  @Transform(toInt)
  @IsInt(WHOLE)
  sequence!: number;

  @ApiPropertyOptional({
    type: 'integer',
    example: 2048,
    description:
      "The tree to prove it in, from `sequence` up to the newest checkpoint's size (default: that size)",
  })
  @IsOptional()
  @Transform(toInt)
  @IsInt(WHOLE)
  treeSize?: number;
}

export class ConsistencyQueryDto {
  @ApiProperty({ type: 'integer', example: 1000, description: 'The older tree size (0 < from <= to)' })
  @Transform(toInt)
  @IsInt(WHOLE)
  from!: number;

  @ApiProperty({
    type: 'integer',
    example: 2048,
    description: "The newer tree size (at most the newest checkpoint's)",
  })
  @Transform(toInt)
  @IsInt(WHOLE)
  to!: number;
}

export class InclusionProofDto {
  @ApiProperty({ type: 'integer', example: 1042 }) sequence!: number;
  @ApiProperty({ type: 'integer', example: 1041, description: 'sequence - 1' }) leafIndex!: number;
  @ApiProperty({ type: 'integer', example: 2048 }) treeSize!: number;
  @ApiProperty({ example: B64, description: 'SHA-256(0x00 || RFC 8785 bytes of the event)' })
  leafHash!: string;
  @ApiProperty({
    type: [String],
    example: [B64],
    description: 'RFC 9162 2.1.3 audit path, nearest the leaf first',
  })
  auditPath!: string[];
}

export class ConsistencyProofDto {
  @ApiProperty({ type: 'integer', example: 1000 }) from!: number;
  @ApiProperty({ type: 'integer', example: 2048 }) to!: number;
  @ApiProperty({
    type: [String],
    example: [B64],
    description: 'RFC 9162 2.1.4 consistency proof (empty when from = to)',
  })
  proof!: string[];
}
