# edgefl.nvflare - the two commands from the README:
#   make sandbox   set up, build the sandbox, deploy a federation and run a real job
#                  (RELAYS=1: site-2 and site-3 behind a relay, on a network with no route to the server;
#                   CLIENTS=N: N clients instead of 3, 1-200)
#   make test      set up and run the whole test suite (what CI runs: .ci/run)
SHELL := /bin/bash
export PATH := $(CURDIR)/.venv/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: setup sandbox sandbox-down test lint docs sanity unit versions integration molecule build bench image

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
