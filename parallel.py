"""Candidates trained in parallel: Ray tasks on all cores and GPUs of one machine, or on a Ray
cluster.

``RayEvaluator`` stands behind search.py's evaluator seam (evaluation.py: a ``Job`` in, one
``Outcome`` per candidate out, in completion order), so the search itself does not know
whether a candidate trained in its own process or on another machine. What it does:

* **One task per candidate, one process per task** (``max_calls=1``): TensorFlow's GPU memory
  and whatever a model leaks go with the process. A task first hides the GPUs if it asked for
  none (Ray would still show them), caps TensorFlow's threads to its CPU share and turns on GPU
  memory growth, all before TensorFlow touches a device.
* **Data and weights travel once.** An in-memory data set (npz, CIFAR-10) is put into Ray's
  object store once per search and every task reads it from there; a streamed one (ImageNet)
  is opened by each task from the same ``load_data`` arguments, so on a cluster its
  ``--data_dir`` must be shared storage. With --inherit the base's trained model goes into the
  object store once per round.
* **Only the driver writes the out_dir.** A task returns its accuracy, its trained model (bytes,
  with --inherit) and its Keras output; the driver writes the model where search.py keeps it
  and the output to ``out_dir/logs/``. Outcomes come back as tasks finish; search.py records
  each at once, so a killed driver resumes without training again what finished.
* **Failures.** A task whose process dies (killed, out of memory, a lost node) is retried by
  Ray (``max_retries``); a candidate's own failure (a NaN loss, a build error) is train.py's
  status, returned like an accuracy and never retried. A task that still dies after its
  retries is recorded as failed, so that one network that kills its worker cannot stop a
  search.
* **Results do not depend on the number of workers**: each candidate trains with its own seed
  (evaluation.candidate_seed), whichever process runs it; only float32 rounding differs with the
  number of threads.

The local instance a search starts listens on the loopback address only: Ray runs whatever
code it is sent, and a one-machine search must not open a port on the network.

**Joining a cluster** (``ray_address``). A head started with ``ray start --head`` checks a token
on every request (Ray turns token authentication on for local clusters from 2.59, for all
from 2.61), and a driver sends one only when ``RAY_AUTH_MODE=token`` is in its environment. So
where a token is at hand (``RAY_AUTH_TOKEN``, the file at ``RAY_AUTH_TOKEN_PATH``, or Ray's own
``~/.ray/auth_token``, which ``ray start --head`` writes and ``ray get-auth-token`` prints) and
the user did not choose a mode, the driver sends it (``auth_environment``); a head without
authentication accepts it too. A head that refuses the driver is one line saying what to set.
"""

import contextlib
import dataclasses
import io
import os
import socket
import tempfile

import arch_json
import evaluation
import guard
import records

# Ray reads this when it is imported: without it, a "local" instance binds raylet, GCS and
# workers to every interface even when told its node address is 127.0.0.1. Set here, before
# anything can import Ray, and left alone if a user set it.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
TASK_RETRIES = 3  # Ray's default for a task whose worker process died


@dataclasses.dataclass(frozen=True)
class Parallel:
    """How candidates are spread over processes; none of it changes what a search computes.

    workers: candidates training at once (1: in the search's own process, no Ray).
    ray_address: a running Ray cluster to join ("HOST:PORT" of its head); None: a private
    local instance of this machine's cores and GPUs. cpus_per_candidate: CPU share of a task
    (None: the cores divided among the workers). gpus_per_candidate: GPU share of a task, e.g.
    0.25 puts four on one GPU (None: the GPUs divided among the workers, at most 1 each; 0
    without GPUs).
    """
    workers: int = 1
    ray_address: str | None = None
    cpus_per_candidate: float | None = None
    gpus_per_candidate: float | None = None

    def __post_init__(self):
        """One ValueError per bad setting, naming its flag."""
        if self.workers < 1:
            raise ValueError(f"--workers must be at least 1, got {self.workers}")
        if self.cpus_per_candidate is not None and not self.cpus_per_candidate > 0:
            raise ValueError(f"--cpus_per_candidate must be positive, got "
                             f"{self.cpus_per_candidate}")
        if self.gpus_per_candidate is not None and self.gpus_per_candidate < 0:
            raise ValueError(f"--gpus_per_candidate must be at least 0, got "
                             f"{self.gpus_per_candidate}")
        if self.ray_address is not None:
            _host_port(self.ray_address)

    @property
    def uses_ray(self):
        return self.workers > 1 or self.ray_address is not None


def _host_port(address):
    """("host", port) of "HOST:PORT" (a leading "ray://" or "http://" is not accepted: Ray
    core joins a cluster at its GCS address)."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--ray_address must be HOST:PORT (the head's address, as `ray start "
                         f"--head` prints it), got {address!r}")
    return host, int(port)


AUTH_TOKEN_FILE = os.path.join("~", ".ray", "auth_token")  # where `ray start --head` writes it


def auth_environment(environ):
    """The variables to add to `environ` (a mapping) for a driver that joins a cluster: the
    token mode where a token is at hand and no mode was chosen, else nothing."""
    if "RAY_AUTH_MODE" in environ:
        return {}
    has_token = environ.get("RAY_AUTH_TOKEN") or environ.get("RAY_AUTH_TOKEN_PATH") or \
        os.path.isfile(os.path.expanduser(AUTH_TOKEN_FILE))
    return {"RAY_AUTH_MODE": "token"} if has_token else {}


def start_ray(settings, num_cpus=None):
    """Start (or join) Ray for `settings` (a checked Parallel): a private instance bound to
    127.0.0.1 with `num_cpus` cores (default: all), or the cluster at settings.ray_address,
    checked first so that an address where nothing listens is a ValueError naming the flag
    instead of Ray's minute of retries; joining it sends the token (`auth_environment`)."""
    if settings.ray_address is not None:
        # Ray reads the mode when it is imported: set it first.
        os.environ.update(auth_environment(os.environ))
    import ray  # only searches with workers need it, and it imports slowly
    if settings.ray_address is not None:
        host, port = _host_port(settings.ray_address)
        try:
            socket.create_connection((host, port), timeout=5).close()
        except OSError as e:
            raise ValueError(f"--ray_address: nothing answers at {settings.ray_address} "
                             f"({e.strerror or e}); start the head with `ray start --head`"
                             ) from None
        try:
            ray.init(address=settings.ray_address, log_to_driver=False)
        except ConnectionError:
            # Ray says only that it could not connect; a head that answers the port and then
            # refuses is, since 2.59, one that wants a token it did not get.
            token = ("with the token of RAY_AUTH_MODE=token" if os.environ.get("RAY_AUTH_MODE")
                     == "token" else "without a token")
            raise ValueError(
                f"--ray_address: the head at {settings.ray_address} refused this driver "
                f"({token}); copy the head's token (`ray get-auth-token` on the head) to "
                f"{AUTH_TOKEN_FILE} here or set RAY_AUTH_TOKEN") from None
    else:
        ray.init(address="local", _node_ip_address="127.0.0.1", num_cpus=num_cpus,
                 include_dashboard=False, log_to_driver=False)
    return ray


def shares(settings, resources):
    """(cpus, gpus) per task: the flags, or the cluster's `resources` (ray.cluster_resources())
    divided among the workers; GPUs at most one per task."""
    cpus = settings.cpus_per_candidate
    if cpus is None:
        cpus = max(1.0, resources.get("CPU", 1.0) // settings.workers)
    gpus = settings.gpus_per_candidate
    if gpus is None:
        gpus = min(1.0, resources.get("GPU", 0.0) / settings.workers)
    return cpus, gpus


# ---------------------------------------------------------------------------------------------
# What travels to a task
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Shipment:
    """A data set as a task receives it: `shell` is the inputs.Data without its tf.data splits
    (which cannot be pickled); `arrays` maps "train" and "val" to (images, labels) for an
    in-memory set, None for a streamed one, which the task loads itself with `load_args`
    (inputs.load_data's arguments)."""
    shell: object
    arrays: dict | None
    load_args: tuple | None


def ship(data, load_args=None):
    """The Shipment of `data`: its train and validation arrays if it is held in memory, else
    `load_args` (required then). Candidates are never tested, so the test split stays home."""
    shell = dataclasses.replace(data, train=None, val=None, test=None)
    if not data.in_memory:
        if load_args is None:
            raise ValueError(f"{data.name}: a streamed data set reaches workers as the "
                             f"arguments of inputs.load_data, and none were given")
        return Shipment(shell, None, tuple(load_args))
    return Shipment(shell, {"train": _arrays(data.train, data.num_train),
                            "val": _arrays(data.val, data.num_val)}, None)


def _arrays(split, count):
    """(images (N, H, W, 3) uint8, labels (N,) int64) of an in-memory split."""
    images, labels = split.batch(max(count, 1)).get_single_element()
    return images.numpy(), labels.numpy()


def unship(shipment):
    """The inputs.Data of a Shipment, in a task."""
    import inputs
    import tensorflow as tf
    if shipment.arrays is None:
        return inputs.load_data(*shipment.load_args)
    splits = {name: tf.data.Dataset.from_tensor_slices(arrays)
              for name, arrays in shipment.arrays.items()}
    return dataclasses.replace(shipment.shell, test=splits["val"].take(0), **splits)


# ---------------------------------------------------------------------------------------------
# The task
# ---------------------------------------------------------------------------------------------

def train_task(arch, shipment, config, parent, keep_model, cpus, hide_gpus):
    """Train one candidate (a cells.Arch) in this fresh process: train.train with `config`
    (seed included), from `parent` = (model bytes, its cells.Arch), else from scratch.

    Returns a dict: val_accuracy, status, seconds (train.TrainResult's), model (the trained
    .keras bytes if `keep_model` and the status is "ok", else None) and log (Keras' output)."""
    if hide_gpus:  # before TensorFlow loads: Ray shows every GPU to a task that asked for none
        os.environ["CUDA_VISIBLE_DEVICES"] = "-1"
    import tensorflow as tf
    threads = max(1, int(cpus))
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    for gpu in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(gpu, True)
    import train
    data = unship(shipment)
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()) as out:
        start = None
        model_path = os.path.join(tmp, "model.keras") if keep_model else None
        if parent is not None:
            parent_path = os.path.join(tmp, "parent.keras")
            with open(parent_path, "wb") as f:
                f.write(parent[0])
            arch_json.save(parent[1], train.arch_path(parent_path))
            model, parent_arch = train.load_model(parent_path)
            start = train.Inheriting(model, parent_arch, arch, config, data)
        result = train.train(arch, data, config, start=start, model_path=model_path)
        model_bytes = None
        if model_path is not None and os.path.isfile(model_path):
            with open(model_path, "rb") as f:
                model_bytes = f.read()
    return {"val_accuracy": result.val_accuracy, "status": result.status,
            "seconds": result.seconds, "model": model_bytes, "log": out.getvalue()}


# ---------------------------------------------------------------------------------------------
# The evaluator
# ---------------------------------------------------------------------------------------------

@contextlib.contextmanager
def evaluator(settings, data, train_config, inherit, load_args=None, log=print):
    """The evaluator `settings` (a Parallel) ask for, for search.run: None (search.run's own
    TrainEvaluator, in this process) for one worker on this machine, else a RayEvaluator,
    started on entering and stopped on leaving."""
    if not settings.uses_ray:
        yield None
        return
    with RayEvaluator(data, train_config, inherit, settings, load_args, log) as ray_evaluator:
        yield ray_evaluator


class RayEvaluator:
    """search.py's evaluator on Ray: up to `settings.workers` candidates train at once, each in
    its own task; outcomes are yielded as tasks finish. Use as a context manager: Ray starts on
    entering (a bad --ray_address fails there, before any training) and stops on leaving.

    data: inputs.Data; load_args: inputs.load_data's arguments, for a streamed data set.
    task: the function a task runs (train_task; a test wraps it to inject a crash).
    """

    def __init__(self, data, train_config, inherit, settings, load_args=None, log=print,
                 task=train_task):
        self.data, self.inherit, self.settings = data, inherit, settings
        # Keras' per-epoch lines go to out_dir/logs/, not to the driver's terminal.
        self.train_config = dataclasses.replace(train_config, verbose=2)
        self.load_args, self.log, self.task = load_args, log, task
        self.ray = self.remote = self.shipment = None
        self.description = evaluation.describe_training(train_config, inherit)

    def __enter__(self):
        if self.ray is None:
            self._start()
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.ray is not None:
            self.ray.shutdown()
            self.ray = None

    def _start(self):
        self.ray = start_ray(self.settings)
        cpus, gpus = shares(self.settings, self.ray.cluster_resources())
        self.cpus = cpus
        self.remote = self.ray.remote(num_cpus=cpus, num_gpus=gpus, max_calls=1,
                                      max_retries=TASK_RETRIES,
                                      retry_exceptions=False)(self.task)
        self.hide_gpus = gpus == 0
        self.shipment = self.ray.put(ship(self.data, self.load_args))
        self.log(f"ray: {self.settings.workers} workers, {cpus:g} CPUs and {gpus:g} GPUs per "
                 f"candidate, {self.ray.cluster_resources().get('CPU', 0):g} CPUs and "
                 f"{self.ray.cluster_resources().get('GPU', 0):g} GPUs in all")

    def __call__(self, job):
        import train
        if not job.candidates:
            return
        if self.ray is None:
            self._start()
        out = records.OutDir(job.out_dir)
        parent = None
        if self.inherit and job.base_model:
            with open(job.base_model, "rb") as f:
                parent = self.ray.put((f.read(), arch_json.load(train.arch_path(job.base_model))))
        waiting = list(job.candidates)
        running, done, failed = {}, 0, 0
        while waiting or running:
            while waiting and len(running) < self.settings.workers:
                candidate = waiting.pop(0)
                config = dataclasses.replace(
                    self.train_config, seed=evaluation.candidate_seed(job.seed, candidate.key))
                # With --inherit every model is kept (round 0's too): the best becomes the
                # next round's base.
                ref = self.remote.remote(candidate.arch, self.shipment, config, parent,
                                         self.inherit, self.cpus, self.hide_gpus)
                running[ref] = candidate
            (ref,), _ = self.ray.wait(list(running), num_returns=1)
            candidate = running.pop(ref)
            outcome = self._collect(ref, candidate, job, out)
            done += 1
            failed += outcome.status != "ok"
            # Counted as the loop's next pass leaves it: a freed worker takes the next at once;
            # the search prints how far the round is and its ETA (meters.py).
            busy = min(len(running) + len(waiting), self.settings.workers)
            self.log(f"round {job.round}: {done}/{len(job.candidates)} done, {busy} running, "
                     f"{failed} failed")
            yield outcome

    def _collect(self, ref, candidate, job, out):
        """The evaluation.Outcome of a finished task; its model and log written to the out_dir."""
        import train
        try:
            result = self.ray.get(ref)
        except self.ray.exceptions.RayError as e:  # the process died TASK_RETRIES + 1 times
            return evaluation.Outcome(candidate.key, None,
                                      f"error: {type(e).__name__}: {guard.first_line(e)}", 0.0)
        with open(out.log_path(job.round, candidate.key), "w") as f:
            f.write(f"{candidate.key}\n{result['log']}status {result['status']}, val acc "
                    f"{result['val_accuracy']}, {result['seconds']:.1f} s\n")
        if result["model"] is not None:
            path = out.model_path(job.round, candidate.key)
            arch_json.save(candidate.arch, train.arch_path(path))
            def write(tmp):
                with open(tmp, "wb") as f:
                    f.write(result["model"])
            guard.replace_atomically(path, write)
        return evaluation.Outcome(candidate.key, result["val_accuracy"], result["status"],
                                  result["seconds"])
