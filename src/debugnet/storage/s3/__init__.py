"""Dumps into S3-compatible object storage (``--store s3://BUCKET[/PREFIX]``).

upload.py streams one vmcore into a multipart upload; sink.py is one dump's
``DumpSink``; store.py the ``DumpStore`` (allocation by conditional create,
the start-up sweep, folders); janitor.py retries what a down store could not
take; retry.py bounds every call by ``--store-timeout``. The URL and the
boto3 client come from catalogue/s3location.py, which the readers share.
Needs the ``s3`` extra.
"""
