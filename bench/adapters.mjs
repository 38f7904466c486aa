#!/usr/bin/env node
// Fastify vs Express under NestJS on a trivial authenticated endpoint (issue 2's adapter choice).
// node bench/adapters.mjs   — boots each adapter in turn in this process, drives it with autocannon
// (64 connections, 8 s after a 2 s warm-up) and prints requests/s, latency and the ratio.
import 'reflect-metadata';
import { createSecretKey } from 'node:crypto';
import { Controller, Get, Injectable, Module, UseGuards } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import autocannon from 'autocannon';
import jwt from 'jsonwebtoken';

const SECRET = createSecretKey(Buffer.from('adapter-bench-secret-0123456789-0123456789'));
const token = jwt.sign({ sub: 'u1', role: 'USER' }, SECRET, {
  algorithm: 'HS256',
  issuer: 'hfts',
  audience: 'hfts-api',
  expiresIn: 600,
});

// Written without decorator syntax so that this file runs as plain JavaScript.
class TokenGuard {
  canActivate(context) {
    const header = context.switchToHttp().getRequest().headers.authorization ?? '';
    const claims = jwt.verify(header.replace(/^Bearer /, ''), SECRET, {
      algorithms: ['HS256'],
      issuer: 'hfts',
      audience: 'hfts-api',
    });
    context.switchToHttp().getRequest().user = claims;
    return true;
  }
}
Injectable()(TokenGuard);
class MeController {
  me() {
    return { id: 'u1', status: 'ACTIVE' };
  }
}
const me = Object.getOwnPropertyDescriptor(MeController.prototype, 'me');
Get('me')(MeController.prototype, 'me', me);
UseGuards(TokenGuard)(MeController.prototype, 'me', me);
Controller('api')(MeController);
class BenchModule {}
Module({ controllers: [MeController] })(BenchModule);

async function measure(name, adapter) {
  const app = await NestFactory.create(BenchModule, adapter, { logger: false });
  await app.listen(0, '127.0.0.1');
  const url = `${await app.getUrl()}/api/me`.replace('[::1]', '127.0.0.1');
  const opts = { url, connections: 64, headers: { authorization: `Bearer ${token}` } };
  await autocannon({ ...opts, duration: 2 });
  const r = await autocannon({ ...opts, duration: 8 });
  await app.close();
  const row = {
    adapter: name,
    rps: Math.round(r.requests.average),
    p50: r.latency.p50,
    p99: r.latency.p99,
    non2xx: r.non2xx,
  };
  console.log(JSON.stringify(row));
  return row;
}

const fastify = await measure('fastify', new FastifyAdapter());
const express = await measure('express', new ExpressAdapter());
console.log(`fastify/express requests per second: ${(fastify.rps / express.rps).toFixed(2)}`);
process.exit(0);
