import { Body, Controller, Param, Patch } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { Roles } from '../common/auth/roles.decorator';
import { ApiProblems } from '../common/http/api-problems.decorator';
import { UUID_PARAM } from '../common/http/params';
import { UpdateUserStatusDto, UserDto } from './dto/user.dto';
import { UsersService } from './users.service';

@ApiTags('admin')
@ApiBearerAuth('bearer')
@Roles('ADMIN')
@ApiProblems(401, [403, 'FORBIDDEN: not an admin; ACCOUNT_INACTIVE: your account is not active'], 429)
@Controller('admin/users')
export class AdminUsersController {
  constructor(private readonly users: UsersService) {}

  @Patch(':id/status')
  @ApiOperation({
    operationId: 'setUserStatus',
    summary: 'Set a user ACTIVE, SUSPENDED or CLOSED (admin)',
    description:
      'A SUSPENDED or CLOSED user cannot log in; their existing tokens stop moving money at once and stop ' +
      'reading private data within USER_STATUS_CACHE_MS.',
  })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiOkResponse({ type: UserDto, description: 'The user, with the new status' })
  @ApiProblems([400, 'VALIDATION_FAILED: malformed id or status'], [404, 'USER_NOT_FOUND'])
  async setStatus(@Param('id', UUID_PARAM) id: string, @Body() dto: UpdateUserStatusDto): Promise<UserDto> {
    return UserDto.from(await this.users.setStatus(id, dto.status));
  }
}
