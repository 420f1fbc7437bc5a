"""Airflow DAG for teams already on Airflow: the seed's `user_automation` DAG,
running userstream's producer binary instead of a Python loop.

The producer fetches users from the Random User API, stages them in the
PostgreSQL outbox and relays them to Kafka `users_created`; the consumer
(examples/consumer, a long-running service, not a task) stores them in
Cassandra. Each run is recorded in the run ledger (examples/runs).

Tested with Apache Airflow 3.3.2 (make test-airflow); written to load on
Airflow 2.x too. Build the binary where the Airflow workers can run it:

    go build -o /usr/local/bin/userstream-producer ./examples/producer

Connection settings come from the worker's environment (never the command
line, which shows in `ps`): USERSTREAM_KAFKA_BROKERS, USERSTREAM_POSTGRES_DSN
and, for secured servers, the variables of package secure.

The Airflow Variable `userstream_producer_args` (optional; set it in the UI,
with `airflow variables set`, or as AIRFLOW_VAR_USERSTREAM_PRODUCER_ARGS in
the workers' environment) is appended to the producer's command line; a flag
given there wins over the same flag given here, e.g. "-users 5000 -topic
users_created_eu -pg-schema eu", or "-offline" on a machine without
internet. It is shell text: only operators should be able to set it.
"""

from datetime import datetime, timedelta

from airflow import DAG

try:  # Airflow 3, and Airflow 2 with the standard provider
    from airflow.providers.standard.operators.bash import BashOperator
except ImportError:  # Airflow 2 without it
    from airflow.operators.bash import BashOperator

default_args = {
    "owner": "userstream",
    "start_date": datetime(2023, 9, 3, 10, 0),
    # Unlike the seed (no retries), a failed run is retried: runs are
    # idempotent (users are keyed by the API's login.uuid and a re-fetch of
    # the same seed stages nothing new).
    "retries": 2,
    "retry_delay": timedelta(minutes=5),
}

# The run's date, as YYYYMMDD. A scheduled run has a logical date; a manual
# run on Airflow 3 (`airflow dags trigger`, the UI's Trigger) has none unless
# one is given, so `ds_nodash` is undefined there and the task would fail:
# such a run takes the date it was triggered for (run_after, fixed when the
# run is created). Either is stored with the run, so every attempt of a run
# renders the same date. Airflow 2 always has a logical date (and no
# run_after, which `or` then never reads).
RUN_DATE = "{{ (dag_run.logical_date or dag_run.run_after) | ds_nodash }}"

with DAG(
    "user_automation",
    default_args=default_args,
    schedule="@daily",
    catchup=False,
) as dag:
    BashOperator(
        task_id="stream_data_from_api",
        # The seed streamed for one minute; this fetches a fixed number of
        # users with a seed derived from the run's date, so a retry of the
        # same run, or another run of the same day, fetches the same users
        # and stages nothing twice.
        bash_command=(
            "userstream-producer -users 20000 -seed 'userstream-" + RUN_DATE + "' "
            "-metrics-addr '' -progress=false "
            "{{ var.value.get('userstream_producer_args', '') }}"
        ),
        execution_timeout=timedelta(minutes=30),
    )
