"""A job run inside a process that already has a SparkContext (the test suite, a notebook) reuses
it and must never stop it, whatever thread it runs on: Spark's active session is a JVM thread-local,
so asking for it from a thread other than the one that built the session finds none."""

import threading

from loyalty.spark import spark_session


def test_a_job_on_another_thread_does_not_stop_the_shared_session(spark, cfg):
    seen = {}

    def job():
        with spark_session("job-on-a-thread", cfg) as session:
            seen["rows"] = session.range(3).count()

    worker = threading.Thread(target=job)
    worker.start()
    worker.join()
    assert seen["rows"] == 3
    assert spark.sparkContext._jsc is not None           # still running
    assert spark.range(5).count() == 5
