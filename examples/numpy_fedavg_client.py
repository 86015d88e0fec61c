"""Client script of the numpy_fedavg example job (NumPy only, no torch).

Every round each site adds 1.0 to every weight it receives and sends the result back.
FedAvg of identical updates is that same update, so after N rounds the global model is
the initial model + N: the value the tests and the sandbox check.
"""

import nvflare.client as flare


def main():
    flare.init()
    site = flare.get_site_name()
    while flare.is_running():
        model = flare.receive()
        params = {name: value + 1.0 for name, value in model.params.items()}
        print(f"{site}: round {model.current_round} trained")
        flare.send(flare.FLModel(params=params, metrics={"accuracy": float(model.current_round or 0)}, meta={"NUM_STEPS_CURRENT_ROUND": 1}))


if __name__ == "__main__":
    main()
