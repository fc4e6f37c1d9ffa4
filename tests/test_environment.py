"""Device resolution and the environment report of notebook 00."""

from __future__ import annotations

import pytest
import torch

from advdist_lab.environment import environment_report, package_version, resolve_device


def test_auto_resolves_to_an_available_device():
    device = resolve_device("auto")
    expected = "cuda" if torch.cuda.is_available() else device.type
    assert device.type == expected
    assert torch.zeros(1, device=device).device.type == device.type


def test_cpu_and_torch_device_are_accepted():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "", "CPU", 3, None])
def test_unknown_device_names_raise(bad):
    with pytest.raises(ValueError, match="device must be"):
        resolve_device(bad)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised when CUDA is missing")
def test_cuda_without_a_gpu_raises_a_clear_error():
    with pytest.raises(ValueError, match="not available"):
        resolve_device("cuda")


def test_report_names_versions_and_the_device():
    report = environment_report("cpu")
    assert report["device"] == "cpu"
    assert report["torch"] == package_version("torch")
    assert str(report["torchvision_import"]).startswith("ok ")
    assert package_version("no-such-package-advdist") is None


def test_configure_threads_gives_one_thread_to_the_small_models_on_the_cpu() -> None:
    import torch

    from advdist_lab.environment import configure_threads

    before = torch.get_num_threads()
    try:
        assert configure_threads("digits", "cpu") == 1
        assert configure_threads("digits", "cpu", threads=2) == 2
        torch.set_num_threads(2)
        assert configure_threads("mnist", "cpu") == 2  # torch's setting is left alone for the paper's models
        for bad in (0, -1, 1.5, True):
            with pytest.raises(ValueError, match="threads must be an integer >= 1"):
                configure_threads("digits", "cpu", threads=bad)
    finally:
        torch.set_num_threads(before)


def test_a_block_larger_than_the_memory_is_refused_naming_it() -> None:
    from advdist_lab.environment import available_memory, check_fits_in_memory

    available = available_memory("cpu")
    assert available is not None and available > 0
    assert check_fits_in_memory("--batch-size", 1024) == 1024
    with pytest.raises(ValueError, match=r"--batch-size needs about .* GiB but only .* GiB is available on cpu"):
        check_fits_in_memory("--batch-size", 4 * available)


def test_sizes_in_messages_are_readable(monkeypatch: pytest.MonkeyPatch) -> None:
    from advdist_lab import environment

    assert environment.format_bytes(3 * 2**30 // 2) == "1.5 GiB"
    assert environment.format_bytes(12 * 2**20) == "12.0 MiB"
    monkeypatch.setattr(environment, "available_memory", lambda device="cpu": 2**20)
    with pytest.raises(ValueError, match=r"--batch-size needs about 2.0 MiB but only 1.0 MiB is available on cpu"):
        environment.check_fits_in_memory("--batch-size", 2**21)
    assert environment.check_fits_in_memory("--batch-size", 2**20) == 2**20
