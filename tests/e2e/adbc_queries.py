"""An analyst's session through ADBC's Flight SQL driver: typical queries, each run several
times (Ballista once announced a grouped result with another stage's schema, which ADBC
refuses, on some runs only), and the metadata calls a client's schema browser makes.

    python adbc_queries.py grpc://HOST:PORT TOKEN GOLD_DIRECTORY

Prints a JSON object: each query's rows (values as strings, the same on every run), the tables
the catalogue lists and gold's columns. Exits 1 naming every query that failed. Gold's files are
also declared as an external table partitioned by date, as an analyst might.
"""

import json
import sys

import adbc_driver_flightsql.dbapi as flight_sql

RUNS = 4

QUERIES = {
    "count": "SELECT count(*) FROM gold",
    "count_of_a_day": "SELECT count(*) AS windows FROM gold WHERE date = DATE '2026-06-01'",
    "by_class": "SELECT fault_label, count(*) AS windows FROM gold "
    "GROUP BY fault_label ORDER BY fault_label",
    "by_class_unaliased": "SELECT fault_label, count(*) FROM gold GROUP BY fault_label "
    "ORDER BY 2 DESC, 1",
    "confidence_by_device": "SELECT device_id, round(avg(probabilities[fault_code + 1]), 3) "
    "AS confidence FROM gold GROUP BY device_id ORDER BY device_id",
    "gold_join_silver": "SELECT count(*) AS joined, sum(s.readings) AS readings FROM gold g "
    "JOIN silver s ON g.device_id = s.device_id AND g.window_start = s.window_start",
    "latest_by_device": "SELECT device_id, fault_label FROM (SELECT device_id, fault_label, "
    "row_number() OVER (PARTITION BY device_id ORDER BY window_start DESC) AS recent "
    "FROM gold) WHERE recent = 1 ORDER BY device_id",
    "range": "SELECT min(window_start), max(window_start) FROM gold",
    "external_rows": "SELECT date FROM gold_files LIMIT 1",
    # Grouped by the partition column itself, a cluster's shuffle fails (Ballista sends the
    # dictionary as strings and the final aggregate expects the dictionary): cast it first.
    "external_by_day": "SELECT CAST(date AS DATE) AS day, count(*) AS windows FROM gold_files "
    "GROUP BY 1",
}


def rows(table):
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    return [[str(value) for value in row] for row in zip(*columns)]


def main():
    uri, token, gold_directory = sys.argv[1:4]
    out, failed = {"results": {}}, []
    with flight_sql.connect(uri, db_kwargs={"username": "analyst", "password": token}) as conn:
        cursor = conn.cursor()
        cursor.execute(
            "CREATE EXTERNAL TABLE gold_files STORED AS PARQUET PARTITIONED BY (date) "
            f"LOCATION '{gold_directory}'"
        )
        cursor.fetch_arrow_table()
        for name, sql in QUERIES.items():
            seen = []
            for _ in range(RUNS):
                try:
                    cursor.execute(sql)
                    seen.append(rows(cursor.fetch_arrow_table()))
                except Exception as error:  # the driver's errors have no common base
                    failed.append(f"{name}: {error}")
                    break
            if seen and any(run != seen[0] for run in seen):
                failed.append(f"{name}: runs differ: {seen}")
            if seen:
                out["results"][name] = seen[0]
        try:
            objects = conn.adbc_get_objects(depth="tables").read_all().to_pylist()
            out["tables"] = sorted(
                table["table_name"]
                for catalog in objects
                for schema in catalog["catalog_db_schemas"]
                for table in schema["db_schema_tables"]
            )
            out["gold_columns"] = conn.adbc_get_table_schema("gold").names
            out["table_types"] = conn.adbc_get_table_types()
        except Exception as error:
            failed.append(f"metadata: {error}")
    print(json.dumps(out))
    if failed:
        print("\n".join(failed), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
