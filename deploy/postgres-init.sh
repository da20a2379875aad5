#!/usr/bin/env bash
# Runs once, when the PostgreSQL volume is new: one database and one owner per component.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" <<SQL
create role portrait login createrole password '${PORTRAIT_DB_PASSWORD}';
create database portrait owner portrait;
create role airflow login password '${AIRFLOW_DB_PASSWORD}';
create database airflow owner airflow;
create role mlflow login password '${MLFLOW_DB_PASSWORD}';
create database mlflow owner mlflow;
SQL
