# StreamHouse broker image.
#
#   docker build -t streamhouse .
#   docker run -p 9092:9092 -v streamhouse-data:/data streamhouse --advertise HOST:9092
#
# Flags given to `docker run` are appended to `streamhouse serve`; every flag is also
# settable as a STREAMHOUSE_<FLAG> environment variable (flags win over the environment).
# Clients are told to reconnect to the --advertise address (default 127.0.0.1:<port> when
# listening on 0.0.0.0), so set it to an address the clients can reach.

# ---- build: full dependency tree, compile TypeScript -------------------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# The lockfile has no package with an install script (the native codecs ship prebuilt
# binaries as optional per-platform packages), so --ignore-scripts changes nothing but
# keeps npm 11 from stopping on an unapproved script.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build && find dist -name '*.map' -delete

# ---- runtime: production dependencies + compiled JavaScript only -------------------------
FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    STREAMHOUSE_LISTEN=0.0.0.0:9092 \
    STREAMHOUSE_DATA_DIR=/data
WORKDIR /app
# package.json is needed at run time too: its "type": "module" makes dist/*.js ES modules.
COPY package.json package-lock.json ./
# Type declarations and source maps are ~40% of the production tree and unused at run time.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && find node_modules -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' \) -delete \
 && rm -rf /root/.npm /tmp/* \
 && mkdir -p /data && chown node:node /data
COPY --from=build /src/dist ./dist
USER node
VOLUME /data
EXPOSE 9092
# TCP connect to the listen address from STREAMHOUSE_LISTEN (0.0.0.0/:: -> 127.0.0.1).
# A port changed with the --listen flag instead of the variable is not seen here.
# (Docker image format only; buildah's default OCI format drops HEALTHCHECK.)
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const l=process.env.STREAMHOUSE_LISTEN||'0.0.0.0:9092',i=l.lastIndexOf(':');let h=l.slice(0,i).replace(/[\\[\\]]/g,'');if(!h||h==='0.0.0.0'||h==='::')h='127.0.0.1';require('net').connect(+l.slice(i+1),h).on('connect',()=>process.exit(0)).on('error',()=>process.exit(1));setTimeout(()=>process.exit(1),4000)"]
ENTRYPOINT ["node", "--initial-heap-size=128", "--max-semi-space-size=16", "--heap-growing-percent=30", "/app/dist/src/cli.js", "serve"]
CMD []
