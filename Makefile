# edgefl.nvflare - the two commands from the README:
#   make sandbox   set up, build the sandbox, deploy a federation and run a real job
#                  (RELAYS=1: site-2 and site-3 behind a relay, on a network with no route to the server;
#                   CLIENTS=N: N clients instead of 3, 1-200)
#   make test      set up and run the whole test suite (what CI runs: .ci/run)
SHELL := /bin/bash
export PATH := $(CURDIR)/.venv/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: setup sandbox sandbox-down test lint docs sanity unit versions integration molecule build bench image pt-job sandbox-pt

setup:
	@scripts/setup.sh

# RELAYS=1: the relay sandbox (scripts/sandbox.sh); unset = the flat one, or the kind that is up
RELAYS ?=
# CLIENTS=N: a sandbox of N clients (scripts/sandbox.sh); unset = 3, or the size that is up
CLIENTS ?=

sandbox: setup
	RELAYS=$(RELAYS) CLIENTS=$(CLIENTS) scripts/sandbox.sh up

sandbox-down: setup
	scripts/sandbox.sh down

test: setup
	scripts/test.sh all

lint docs sanity unit versions integration molecule build: setup
	scripts/test.sh $@

image: setup
	scripts/build-image.sh

bench: setup
	scripts/bench.sh

# The PyTorch workload (opt-in, docs/workload.md): a torch venv outside the repository
# (examples/pt_cifar/torch-venv.sh), the re-export check and a 2-site simulator run of
# playbooks/files/jobs/pt_cifar_fedavg
pt-job: setup
	EDGEFL_TORCH_PYTHON=$$(examples/pt_cifar/torch-venv.sh) python -m pytest -q -p no:cacheprovider tests/unit/test_pt_job.py

# ... and on the running sandbox: torch into every host's venv, then the job. TORCH_WHEEL=<a torch wheel
# file> (e.g. a CPU build) installs that wheel; unset installs torch==2.13.0 from PyPI (the CUDA build, GBs: bench/README.md, "PyTorch workload").
TORCH_WHEEL ?=
sandbox-pt: setup
	if [[ -n "$(TORCH_WHEEL)" ]]; then extra='{"nvflare_venv_local_wheels": ["$(TORCH_WHEEL)"]}'; \
	else extra='{"nvflare_venv_requirements": ["torch==2.13.0"]}'; fi; \
	ansible-playbook -i inventories/sandbox playbooks/deploy.yml -e "$$extra"
	ansible-playbook -i inventories/sandbox playbooks/submit_job.yml \
	  -e nvflare_submit_src=$(CURDIR)/playbooks/files/jobs/pt_cifar_fedavg -e nvflare_submit_timeout=1800
