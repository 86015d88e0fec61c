"""The FLARE API of the NVFLARE version the federation runs, called directly (run with that version's control-node
venv: ~/.cache/edgefl/nv-X/bin/python). The job and status modules use calls that exist from NVFLARE 2.8 on
(check_status, submit tokens); these calls exist from 2.4 on.

    flare_direct.py clients USER KIT             -> {"clients": [names]}
    flare_direct.py job USER KIT JOB DEST TIMEOUT -> {"job_id", "status", "result_path"}
"""
import contextlib
import io
import json
import os
import shutil
import sys
import tempfile

from nvflare.fuel.flare_api.flare_api import new_secure_session


def main(argv):
    cmd, user, kit = argv[1], argv[2], argv[3]
    out = {}
    with contextlib.redirect_stdout(io.StringIO()):
        sess = new_secure_session(user, kit, timeout=30)
        try:
            if cmd == "clients":
                info = sess.get_system_info()
                out["clients"] = sorted(c.name for c in info.client_info)
            elif cmd == "job":
                job, dest, timeout = argv[4], argv[5], float(argv[6])
                # the FLARE API signs the folder in place: submit a copy
                tmp = tempfile.mkdtemp(prefix="edgefl-legacy-job-")
                copy = os.path.join(tmp, os.path.basename(os.path.normpath(job)))
                shutil.copytree(job, copy, ignore=shutil.ignore_patterns(".__nvfl_*"))
                try:
                    job_id = sess.submit_job(copy)
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
                sess.monitor_job(job_id, timeout=timeout, poll_interval=2.0)
                meta = sess.get_job_meta(job_id)
                out = {"job_id": job_id, "status": meta.get("status"),
                       "result_path": sess.download_job_result(job_id) if str(meta.get("status")).startswith("FINISHED") else None}
                if dest and out["result_path"]:
                    out["result_path"] = str(out["result_path"])
        finally:
            sess.close()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
