# syntax=docker/dockerfile:1
# Build stage: compiles better-sqlite3's native addon (needs python3, make, g++) and the service's
# TypeScript (npm run build), then keeps production dependencies only.
FROM node:24.22.3-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY tools/build.mjs ./tools/build.mjs
COPY service ./service
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# Runtime stage: compiled JavaScript and production dependencies, no compilers, no TypeScript
# loader, run as the unprivileged `node` user.
FROM node:24.22.3-bookworm-slim
ENV NODE_ENV=production \
    PORT=8888 \
    DATABASE_PATH=/app/data/router.db
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY migrations ./migrations
COPY seed-data ./seed-data
RUN mkdir -p /app/data && chown node:node /app/data
USER node
EXPOSE 8888
VOLUME ["/app/data"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||8888)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# node itself is PID 1's child of nothing else: SIGTERM from the engine reaches the service, which drains.
CMD ["node", "dist/main.js"]
