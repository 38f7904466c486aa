import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { type AuthUser, CurrentUser } from '../common/auth/auth-user';
import { ApiProblems } from '../common/http/api-problems.decorator';
import { EventPageDto, EventsQueryDto } from './dto/event.dto';
import { EventsService } from './events.service';

@ApiTags('events')
@ApiBearerAuth('bearer')
@ApiProblems(401, [403, 'ACCOUNT_INACTIVE: the account was suspended or closed'], 429, 503)
@Controller('events')
export class EventsController {
  constructor(private readonly events: EventsService) {}

  @Get()
  @ApiOperation({
    operationId: 'listEvents',
    summary: 'Events touching your wallet or account (admins: all), oldest first',
    description:
      'Every committed change of money or of an account, in commit order (`sequence`). Page with ' +
      '`after=<nextCursor>`: a reader that pages to the end never misses an event, even one that committed ' +
      'later than events it has already seen. `nextCursor` is null on the last page; poll with the last ' +
      'sequence seen to follow new events.',
  })
  @ApiOkResponse({ type: EventPageDto })
  @ApiProblems(400)
  list(@CurrentUser() user: AuthUser, @Query() query: EventsQueryDto): Promise<EventPageDto> {
    return this.events.page(user, query.after, query.limit);
  }
}
