import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_INTERCEPTOR, APP_PIPE } from '@nestjs/core';
import { ScheduleModule } from '@nestjs/schedule';
import { TypeOrmModule } from '@nestjs/typeorm';
import { LoggerModule } from 'nestjs-pino';
import { AuthModule } from './auth/auth.module';
import { createValidationPipe } from './common/http/validation';
import { ProblemDetailsFilter } from './common/http/problem-details.filter';
import { AppConfig } from './config/app-config';
import { ConfigModule } from './config/config.module';
import { buildDataSourceOptions } from './database/data-source-options';
import { prepareDatabase } from './database/prepare-database';
import { ReplicasModule } from './database/replicas.module';
import { WriteMarkerInterceptor } from './database/write-marker.interceptor';
import { mapDatabaseError } from './database/pg-errors';
import { databaseSettings } from './database/settings';
import { EventsModule } from './events/events.module';
import { HealthModule } from './health/health.module';
import { LedgerModule } from './ledger/ledger.module';
import { loggerOptions } from './bootstrap/logger';
import { TransfersModule } from './transfers/transfers.module';
import { UsersModule } from './users/users.module';
import { WalletsModule } from './wallets/wallets.module';
import { WebhooksModule } from './webhooks/webhooks.module';

@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggerModule.forRoot(loggerOptions(config)),
        TypeOrmModule.forRootAsync({
          useFactory: async () => ({
            ...buildDataSourceOptions(await prepareDatabase(databaseSettings(config))),
            entities: undefined,
            autoLoadEntities: true,
            // Fail start-up instead of retrying forever: a wrong POSTGRES_PORT should say so at once.
            retryAttempts: 0,
          }),
        }),
        ScheduleModule.forRoot(),
        HealthModule,
        UsersModule,
        AuthModule,
        WalletsModule,
        TransfersModule,
        EventsModule,
        WebhooksModule,
        LedgerModule,
        ReplicasModule,
      ],
      providers: [
        // Registered as APP_* providers so that tests get exactly the production pipeline.
        { provide: APP_PIPE, useFactory: createValidationPipe },
        { provide: APP_FILTER, useFactory: () => new ProblemDetailsFilter(mapDatabaseError) },
        // Read-your-writes marks only matter where reads can go to a replica. Without one, no interceptor
        // at all: Nest then calls each handler without building an rxjs pipeline per request.
        ...(config.env.POSTGRES_REPLICA_HOSTS
          ? [{ provide: APP_INTERCEPTOR, useClass: WriteMarkerInterceptor }]
          : []),
      ],
    };
  }
}
