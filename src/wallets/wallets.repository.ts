import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import type { Repository } from 'typeorm';
import { Money } from '../common/money/money';
import { Wallet } from './wallet.entity';

/** Reads and creates wallets. Balances are written only by the TransferService's version-checked SQL. */
@Injectable()
export class WalletsRepository {
  constructor(@InjectRepository(Wallet) private readonly wallets: Repository<Wallet>) {}

  getByUserId(userId: string): Promise<Wallet | null> {
    return this.wallets.findOneBy({ userId });
  }

  getById(id: string): Promise<Wallet | null> {
    return this.wallets.findOneBy({ id });
  }

  /** Inserts an empty wallet; a second wallet for the same user fails on the unique key (wallets_user_key). */
  async create(userId: string, currency: string): Promise<Wallet> {
    const rows = await this.wallets
      .createQueryBuilder()
      .insert()
      .values({ userId, currency, balance: Money.ZERO, held: Money.ZERO })
      .returning('*')
      .execute();
    const id = (rows.identifiers[0] as { id: string }).id;
    return (await this.getById(id)) as Wallet;
  }
}
