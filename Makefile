# Herald's entry points. `sudo make lab` is the README's "run it" command, `make test` its
# "test it" command (what CI runs through .ci/run). LAB_DIR and LAB_NAME pick another lab.
LAB_DIR  ?= /run/herald-lab
LAB_NAME ?= hlab
export LAB_DIR LAB_NAME

.PHONY: lab lab-status lab-down test build

build:
	go build -o bin/herald ./cmd/herald

lab:
	./hack/lab.sh up

lab-status:
	./hack/lab.sh status

lab-down:
	./hack/lab.sh down

test:
	./hack/test.sh
