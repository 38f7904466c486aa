import { Controller, Get, Header, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { type AuthUser, CurrentUser } from '../common/auth/auth-user';
import { Public } from '../common/auth/public.decorator';
import { ApiProblems } from '../common/http/api-problems.decorator';
import {
  CheckpointDto,
  CheckpointPageDto,
  CheckpointsQueryDto,
  ConsistencyProofDto,
  ConsistencyQueryDto,
  InclusionProofDto,
  InclusionQueryDto,
  LedgerKeyDto,
} from './dto/ledger.dto';
import { LedgerService } from './ledger.service';

/** An answer that never changes (a proof between fixed sizes, a full page of history); per caller. */
const IMMUTABLE = 'private, max-age=31536000, immutable';
/** An answer that moves with the head: revalidate every time. */
const FRESH = 'no-cache';

@ApiTags('ledger')
@Controller('ledger')
export class LedgerController {
  constructor(private readonly ledger: LedgerService) {}

  @Public()
  @Get('key')
  @Header('Cache-Control', 'public, max-age=300')
  @ApiOperation({
    operationId: 'getLedgerKey',
    summary: 'The key that signs checkpoints',
    description:
      'Verify every checkpoint note with `verifierKey` (Go sumdb/note format, Ed25519). See docs/LEDGER.md.',
  })
  @ApiOkResponse({ type: LedgerKeyDto })
  @ApiProblems(429)
  key(): LedgerKeyDto {
    return this.ledger.key();
  }

  @Public()
  @Get('checkpoint')
  @Header('Cache-Control', FRESH)
  @ApiOperation({
    operationId: 'getLedgerCheckpoint',
    summary: 'The newest signed checkpoint',
    description:
      'A C2SP tlog-checkpoint (origin, tree size, RFC 9162 root hash) in a signed note. Signed at least once a ' +
      'second while the tree grows; size 0 (the empty tree) before the first event.',
  })
  @ApiOkResponse({ type: CheckpointDto })
  @ApiProblems(429, 503)
  checkpoint(): Promise<CheckpointDto> {
    return this.ledger.checkpoint();
  }

  @Public()
  @Get('checkpoints')
  @ApiOperation({
    operationId: 'listLedgerCheckpoints',
    summary: 'Every checkpoint ever signed, oldest (smallest) first',
    description: 'Page with `after=<nextCursor>`. A page with a nextCursor never changes and is cacheable.',
  })
  @ApiOkResponse({ type: CheckpointPageDto })
  @ApiProblems(400, 429, 503)
  async checkpoints(
    @Query() query: CheckpointsQueryDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<CheckpointPageDto> {
    const page = await this.ledger.checkpoints(query.after, query.limit);
    void reply.header(
      'Cache-Control',
      page.nextCursor === null ? FRESH : 'public, max-age=31536000, immutable',
    );
    return page;
  }

  @ApiBearerAuth('bearer')
  @Get('proofs/inclusion')
  @ApiOperation({
    operationId: 'getLedgerInclusionProof',
    summary: 'Proof that an event is a leaf of the tree (RFC 9162 audit path)',
    description:
      'Leaf `sequence - 1`, for a tree of `treeSize` leaves (default: the newest checkpoint). Users: events ' +
      'they may read in GET /events (others: 404); admins: any. With `treeSize` given the answer never ' +
      'changes and is cacheable.',
  })
  @ApiOkResponse({ type: InclusionProofDto })
  @ApiProblems(
    400,
    401,
    [403, 'ACCOUNT_INACTIVE: the account was suspended or closed'],
    404,
    [422, 'NOT_IN_TREE: no such event, or not in a tree of that size (yet)'],
    429,
    503,
  )
  async inclusion(
    @CurrentUser() user: AuthUser,
    @Query() query: InclusionQueryDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<InclusionProofDto> {
    const proof = await this.ledger.inclusion(user, query.sequence, query.treeSize);
    void reply.header('Cache-Control', query.treeSize === undefined ? `private, ${FRESH}` : IMMUTABLE);
    return proof;
  }

  @ApiBearerAuth('bearer')
  @Get('proofs/consistency')
  @Header('Cache-Control', IMMUTABLE)
  @ApiOperation({
    operationId: 'getLedgerConsistencyProof',
    summary: 'Proof that the tree of `from` leaves is a prefix of the tree of `to` leaves (RFC 9162)',
    description:
      "0 < from <= to <= the newest checkpoint's size; from = to gives an empty proof. Never changes.",
  })
  @ApiOkResponse({ type: ConsistencyProofDto })
  @ApiProblems(
    400,
    401,
    [403, 'ACCOUNT_INACTIVE: the account was suspended or closed'],
    [422, 'NOT_IN_TREE: the sizes are not 0 < from <= to <= the newest checkpoint'],
    429,
    503,
  )
  consistency(@Query() query: ConsistencyQueryDto): Promise<ConsistencyProofDto> {
    return this.ledger.consistency(query.from, query.to);
  }
}
