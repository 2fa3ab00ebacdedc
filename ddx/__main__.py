from ddx._entry import run

run()
