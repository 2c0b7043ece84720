# The two commands of the README, plus the benchmark.
.PHONY: run test bench

# Start the service on ./data with the demo data set, at http://127.0.0.1:8080
run:
	cargo run --release --locked -- serve --demo

# The whole test suite: unit, property and integration tests (real HTTP on loopback).
test:
	cargo test --locked

# End-to-end ingest, search, board and classify figures (needs ../shared/data).
bench:
	cargo build --release --locked
	cargo bench --locked --bench e2e
