# edgefl.nvflare - the two commands from the README:
#   make sandbox   set up, build the sandbox, deploy a federation and run a real job
#   make test      set up and run the whole test suite (what CI runs: .ci/run)
SHELL := /bin/bash
export PATH := $(CURDIR)/.venv/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: setup sandbox sandbox-down test lint docs sanity unit integration molecule build bench image

setup:
	@scripts/setup.sh

sandbox: setup
	scripts/sandbox.sh up

sandbox-down: setup
	scripts/sandbox.sh down

test: setup
	scripts/test.sh all

lint docs sanity unit integration molecule build: setup
	scripts/test.sh $@

image: setup
	scripts/build-image.sh

bench: setup
	scripts/bench.sh
