# syntax=docker/dockerfile:1
# Build stage: compiles better-sqlite3's native addon (needs python3, make, g++) and installs
# production dependencies only.
FROM node:20.19-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# Runtime stage: no compilers, runs as the unprivileged `node` user.
FROM node:20.19-bookworm-slim
ENV NODE_ENV=production \
    PORT=8888 \
    DATABASE_PATH=/app/data/router.db
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY package.json ./
COPY service ./service
COPY migrations ./migrations
COPY seed-data ./seed-data
RUN mkdir -p /app/data && chown node:node /app/data
USER node
EXPOSE 8888
VOLUME ["/app/data"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||8888)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "--import", "tsx", "service/main.ts"]
