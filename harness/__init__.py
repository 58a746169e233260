"""A whole local subnet on this machine, shared by ``wmnet demo``, the benches and the
end-to-end tests: child processes that never outlive their parent, dev wallets, and the
set-up of a test subnet on a local chain through the SDK, and a fixed metagraph for
driving a validator's rounds without a chain."""
