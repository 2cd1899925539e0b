# Multi-stage build: a static binary (pure-Go SQLite, no cgo) on distroless,
# running as a non-root user.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/ssooidc ./cmd/ssooidc

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ssooidc /usr/local/bin/ssooidc
USER nonroot:nonroot
WORKDIR /var/lib/ssooidc
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/ssooidc"]
CMD ["serve", "--addr", "0.0.0.0:8080", "--db", "/var/lib/ssooidc/ssooidc.db"]
