import { Injectable } from '@nestjs/common';
import { AppError, type FieldError } from '../../common/errors/error-codes';
import { WalletsService } from '../wallets.service';
import type { SetLimitsDto } from './dto/limits.dto';
import { LimitsRepository, type LimitsView } from './limits.repository';

@Injectable()
export class LimitsService {
  constructor(private readonly limits: LimitsRepository) {}

  async mine(userId: string): Promise<LimitsView> {
    const walletId = await this.limits.walletIdOfUser(userId);
    const view = walletId ? await this.limits.read(walletId, new Date()) : undefined;
    if (!view) throw WalletsService.noWallet();
    return view;
  }

  async of(walletId: string): Promise<LimitsView> {
    const view = await this.limits.read(walletId, new Date());
    if (!view) throw new AppError('WALLET_NOT_FOUND', 'The wallet does not exist');
    return view;
  }

  /** Replaces the wallet's limits (and its overdraft, when given). */
  async set(walletId: string, dto: SetLimitsDto): Promise<LimitsView> {
    const errors = problems(dto);
    if (errors.length > 0) {
      throw new AppError('VALIDATION_FAILED', errors.map((e) => `${e.field} ${e.message}`).join('; '), {
        errors,
      });
    }
    const limits = dto.limits.map((l) => ({
      window: l.window,
      maxAmount: l.maxAmount ?? null,
      maxCount: l.maxCount ?? null,
    }));
    const view = await this.limits.replace(walletId, dto.overdraftLimit, limits, new Date());
    if (!view) throw new AppError('WALLET_NOT_FOUND', 'The wallet does not exist');
    return view;
  }
}

/** The rules a limit set must keep beyond each field's own format (contract v1.2). */
function problems(dto: SetLimitsDto): FieldError[] {
  const errors: FieldError[] = [];
  const seen = new Set<string>();
  dto.limits.forEach((l, i) => {
    const field = `limits.${i}`;
    if (seen.has(l.window)) errors.push({ field, message: `repeats the ${l.window} window` });
    seen.add(l.window);
    if (l.maxAmount === undefined && l.maxCount === undefined) {
      errors.push({ field, message: 'needs maxAmount or maxCount' });
    }
    if (l.window === 'PER_TRANSACTION' && l.maxCount !== undefined) {
      errors.push({ field: `${field}.maxCount`, message: 'is not allowed for PER_TRANSACTION' });
    }
  });
  return errors;
}
