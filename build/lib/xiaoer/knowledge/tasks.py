"""Web imports run in the task queue; progress goes to the cache so the page can poll it while
the import's own transaction is still open."""

from __future__ import annotations

import logging

from django.core.cache import cache
from huey.contrib.djhuey import db_task

log = logging.getLogger(__name__)


def progress_key(job_id: int) -> str:
    return f"knowledge-import-progress:{job_id}"


def run_import_job_now(job_id: int) -> None:
    from xiaoer.knowledge import services
    from xiaoer.knowledge.importer import FileProblem
    from xiaoer.knowledge.models import ImportJob

    job = ImportJob.objects.select_related("shop").get(pk=job_id)
    if job.status not in ("pending",):
        return  # already run (a retried task must not import twice)
    ImportJob.objects.filter(pk=job_id).update(status="running")

    def progress(done: int, total: int) -> None:
        cache.set(progress_key(job_id), (done, total), 3600)

    try:
        result = services.import_file(job.shop, job.kind, bytes(job.content), job.filename,
                                      skip_bad_rows=job.skip_bad_rows, progress=progress)
        payload, status = result.as_dict(), "done"
    except FileProblem as exc:
        payload, status = {"imported": False, "file_error": str(exc), "errors": []}, "failed"
    except Exception:
        log.exception("knowledge import %s failed", job_id)
        payload, status = {"imported": False, "file_error": "导入失败（服务器错误），请重试", "errors": []}, "failed"
    ImportJob.objects.filter(pk=job_id).update(status=status, result=payload, content=b"")


@db_task()
def run_import_job(job_id: int) -> None:
    run_import_job_now(job_id)
