import { Injectable } from '@nestjs/common';
import { AppError } from '../common/errors/error-codes';
import { sqlState, UNIQUE_VIOLATION } from '../database/pg-errors';
import type { Wallet } from './wallet.entity';
import { WalletsRepository } from './wallets.repository';

@Injectable()
export class WalletsService {
  constructor(private readonly wallets: WalletsRepository) {}

  async create(userId: string, currency: string): Promise<Wallet> {
    const existing = await this.wallets.getByUserId(userId);
    if (existing) throw new AppError('WALLET_EXISTS', 'You already have a wallet');
    try {
      return await this.wallets.create(userId, currency);
    } catch (err) {
      // Two concurrent creations: the unique key lets one win.
      if (sqlState(err) === UNIQUE_VIOLATION)
        throw new AppError('WALLET_EXISTS', 'You already have a wallet');
      throw err;
    }
  }

  async getMine(userId: string): Promise<Wallet> {
    const wallet = await this.wallets.getByUserId(userId);
    if (!wallet) throw WalletsService.noWallet();
    return wallet;
  }

  static noWallet(): AppError {
    return new AppError('WALLET_NOT_FOUND', 'You have no wallet yet: create one with POST /api/v1/wallets');
  }
}
