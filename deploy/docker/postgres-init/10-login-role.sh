#!/bin/sh
# Run once by the postgres image on an empty data directory (docker-compose.yml mounts this
# folder on /docker-entrypoint-initdb.d): the role the services log in as, which owns nothing,
# so row-level security binds them. The migrate service then grants it the application roles
# (`switchboard db grant-app-role switchboard_login`); the tables belong to POSTGRES_USER.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v login_password="${SWITCHBOARD_LOGIN_PASSWORD:?}" <<'SQL'
CREATE ROLE switchboard_login LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD :'login_password';
SQL
