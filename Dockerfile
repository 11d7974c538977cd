# envsync: one image for the central worker and database-host workers.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -o /envsync ./cmd/envsync

FROM debian:bookworm-slim
# pg_dump/pg_restore for PostgreSQL 15 servers.
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-client-15 ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /envsync /usr/local/bin/envsync
ENTRYPOINT ["envsync"]
