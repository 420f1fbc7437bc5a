// Package airflowtest runs the Airflow DAG examples/airflow/user_automation.py
// under a real Apache Airflow against the real local stack; its tests are
// built with -tags airflow and run by `make test-airflow`, which installs the
// pinned Airflow first (install-airflow, beside this file) and passes its
// venv in USERSTREAM_AIRFLOW_VENV.
//
// The tests drive Airflow through its own command line and REST API and
// check what the DAG's runs did with the module's packages: the outbox
// (kafkasink/outbox), the topic (kafkasink), the created_users table
// (cassandrastore) and the run ledger (runledger). Nothing here is part of
// the module's API.
//
//   - TestDagsTest: `airflow dags test` (no scheduler), as a DAG author
//     checks a DAG: a run, a second run of the same date, which stages
//     nothing new, and a run whose Kafka is unreachable, which is retried as
//     the DAG says, fails, leaves nothing half-done, and is then re-run.
//   - TestScheduledAndManualRuns: the components `airflow standalone` runs
//     (API server, scheduler, DAG processor), on 127.0.0.1 only: the DAG
//     unpaused over the REST API, its scheduled run and a manual run
//     without a logical date (the UI's Trigger) both observed to success.
package airflowtest
