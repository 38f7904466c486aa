import { Injectable } from '@nestjs/common';
import { AppError } from '../../common/errors/error-codes';
import { Money } from '../../common/money/money';
import { WalletsService } from '../wallets.service';
import type { CreateMonitorDto, MonitorLike } from './dto/monitor.dto';
import { MAX_MONITORS, MonitorsRepository } from './monitors.repository';

@Injectable()
export class MonitorsService {
  constructor(private readonly monitors: MonitorsRepository) {}

  async create(userId: string, dto: CreateMonitorDto): Promise<MonitorLike> {
    const created = await this.monitors.create(userId, {
      field: dto.field,
      operator: dto.operator,
      value: Money.fromDb(dto.value),
      description: dto.description ?? null,
    });
    if (created === 'no-wallet') throw WalletsService.noWallet();
    if (created === 'full') {
      throw new AppError('CONSTRAINT_VIOLATION', `A wallet has at most ${MAX_MONITORS} monitors`);
    }
    return created;
  }

  async list(userId: string): Promise<MonitorLike[]> {
    const monitors = await this.monitors.list(userId);
    if (!monitors) throw WalletsService.noWallet();
    return monitors;
  }

  async delete(userId: string, id: string): Promise<void> {
    if (!(await this.monitors.delete(userId, id))) throw new AppError('NOT_FOUND', 'No such monitor');
  }
}
