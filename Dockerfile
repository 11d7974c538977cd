# envsync: one image for the central worker and database-host workers.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The lean build: every command a worker, `schedules apply` or a starter
# needs, without `dev` and `demo` and the Temporal server and Web UI they
# embed (README, "Lean worker"). With cgo, for libzstd: a push compresses
# with it at about 0.6 times the CPU of Go's encoder (dump/zstd.go); the
# binary then needs the C library of bookworm, which the final stage is.
# netgo and osusergo keep name lookups and users in Go, as without cgo.
RUN CGO_ENABLED=1 go build -tags lean,netgo,osusergo -o /envsync ./cmd/envsync

FROM debian:bookworm-slim
# One image serves every worker, and a worker runs the tools of whichever
# engine, store and notifier its tasks name, so the image carries all of
# them (deploy/image_test.go checks this list against what the code runs):
#   postgresql-client-15   pg_dump, pg_restore        engine/postgres
#   mariadb-client         mysqldump, mysql           engine/mysql
#   rsync, openssh-client  rsync, ssh                 store/rsyncstore
#   nsca-client            send_nsca                  notify (--nsca-server)
#   ca-certificates        TLS to S3, Icinga's API and Temporal
# The MongoDB, Elasticsearch and files engines and the S3 store are Go
# clients and need nothing here.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        ca-certificates \
        postgresql-client-15 \
        mariadb-client \
        rsync openssh-client \
        nsca-client \
    && rm -rf /var/lib/apt/lists/*
# pg_dump refuses a server newer than itself (rightly: it cannot read the
# newer catalogs), and bookworm ships only PostgreSQL 15's client. For newer
# servers, build with
#   docker build --build-arg PGDG_CLIENTS="16 17" .
# which adds the PostgreSQL project's apt repository (apt.postgresql.org;
# its key comes with Debian's postgresql-common) and installs
# postgresql-client-16 and -17 beside 15. The worker uses
# /usr/lib/postgresql/<server major>/bin by itself; --pg-bindir (or
# ENVSYNC_PG_BINDIR) points it elsewhere.
ARG PGDG_CLIENTS=""
RUN if [ -n "$PGDG_CLIENTS" ]; then \
        apt-get update \
        && apt-get install -y --no-install-recommends postgresql-common \
        && /usr/share/postgresql-common/pgdg/apt.postgresql.org.sh -y \
        && apt-get install -y --no-install-recommends $(for v in $PGDG_CLIENTS; do echo "postgresql-client-$v"; done) \
        && rm -rf /var/lib/apt/lists/*; \
    fi
COPY --from=build /envsync /usr/local/bin/envsync
# A user of its own, with a passwd entry: ssh (the rsync store) refuses a
# uid it cannot look up. The Helm chart runs as this uid (65532).
RUN useradd --system --uid 65532 --user-group --home-dir /tmp --no-create-home --shell /usr/sbin/nologin envsync
USER 65532:65532
ENTRYPOINT ["envsync"]
