"""The PyTorch speed peer for the train step: one EnCodec GAN step on CPU.

Generator (EnCodec 24 kHz, random weights, the full 24 kbps RVQ in training mode with its EMA
codebook updates), a multi-scale STFT discriminator (EnCodec's, 5 scales as in the EnCodec paper),
the losses (L1 waveform, multi-scale mel L1 + L2, hinge adversarial, relative feature matching),
EnCodec's loss balancer at the generator output (each loss's gradient wrt the reconstruction,
normalized, one backward through the generator) and both Adam updates. The discriminator update
is done the way audiocraft does it: its own forward on (real, detached fake), then the generator's
adversarial losses on fresh discriminator forwards.

Needs torch and encodec, which are not in requirements.txt (too large for CI):
  pip install -r experiments/benchmarks/requirements-peer.txt
torchaudio (pulled in by encodec) does not load against torch 2.13 here; it is not needed:
encodec's MS-STFT discriminator only uses torchaudio.transforms.Spectrogram, which a small
torch.stft shim below provides.
"""

from __future__ import annotations

import statistics
import sys
import time
import types


def _shim_torchaudio() -> None:
    """Registers a minimal `torchaudio` (transforms.Spectrogram) if the real one fails to load."""
    try:
        import torchaudio  # noqa: F401
        return
    except Exception:  # missing, or built against another torch
        sys.modules.pop("torchaudio", None)
    import torch

    class Spectrogram(torch.nn.Module):
        def __init__(self, n_fft, hop_length, win_length, window_fn=torch.hann_window,
                     normalized=False, center=False, pad_mode=None, power=None):
            super().__init__()
            assert power is None and not center
            self.n_fft, self.hop, self.win, self.normalized = n_fft, hop_length, win_length, normalized
            self.register_buffer("window", window_fn(win_length), persistent=False)

        def forward(self, x):
            shape = x.shape
            spec = torch.stft(x.reshape(-1, shape[-1]), self.n_fft, self.hop, self.win,
                              self.window, center=False, return_complex=True)
            if self.normalized:
                spec = spec / self.window.pow(2).sum().sqrt()
            return spec.reshape(*shape[:-1], *spec.shape[-2:])

    module = types.ModuleType("torchaudio")
    module.transforms = types.SimpleNamespace(Spectrogram=Spectrogram)
    sys.modules["torchaudio"] = module


def available() -> str | None:
    """None if the peer can run, else why not."""
    try:
        import torch  # noqa: F401
        _shim_torchaudio()
        import encodec  # noqa: F401
    except ImportError as e:
        return (f"{e.name} is not installed; the PyTorch peer needs "
                "`pip install -r experiments/benchmarks/requirements-peer.txt`")
    return None


def measure(batch: int = 4, seconds: float = 1.0, steps: int = 3, threads: int = 2,
            sample_rate: int = 24_000) -> dict:
    import torch
    torch.set_num_threads(threads)
    _shim_torchaudio()
    from encodec import EncodecModel
    from encodec.msstftd import MultiScaleSTFTDiscriminator

    from sscodec.nn.audio import mel_filterbank

    torch.manual_seed(0)
    model = EncodecModel.encodec_model_24khz(pretrained=False)
    model.train()
    disc = MultiScaleSTFTDiscriminator(filters=32, n_ffts=[2048, 1024, 512, 256, 128],
                                       hop_lengths=[512, 256, 128, 64, 32],
                                       win_lengths=[2048, 1024, 512, 256, 128])
    gen_opt = torch.optim.Adam(model.parameters(), lr=3e-4, betas=(0.5, 0.9))
    disc_opt = torch.optim.Adam(disc.parameters(), lr=3e-4, betas=(0.5, 0.9))
    bandwidth = max(model.target_bandwidths)
    mels = {}
    for w in [2 ** i for i in range(5, 12)]:
        n_fft = max(w, 512)
        mels[w] = (n_fft, torch.from_numpy(mel_filterbank(sample_rate, n_fft, 64)),
                   torch.hann_window(w))

    def mel_loss(x, y):
        total = 0.0
        for w, (n_fft, fb, window) in mels.items():
            def mel(a):
                s = torch.stft(a, n_fft, w // 4, w, window, center=False, return_complex=True)
                return (s.abs() + 1e-7).transpose(1, 2) @ fb
            a, b = mel(x), mel(y)
            total = total + (a - b).abs().mean() + ((a - b) ** 2).mean()
        return total

    length = int(seconds * sample_rate)
    x = 0.1 * torch.randn(batch, 1, length)
    weights = {"l1": 0.1, "mel": 1.0, "adv": 3.0, "feat": 3.0}
    norms = {k: None for k in weights}

    def step():
        emb = model.encoder(x)
        qres = model.quantizer(emb, model.frame_rate, bandwidth)
        y = model.decoder(qres.quantized)[..., :length]
        # Discriminator update on (real, detached fake).
        logits_fake, _ = disc(y.detach())
        logits_real, _ = disc(x)
        d_loss = sum(torch.relu(1 - r).mean() + torch.relu(1 + f).mean()
                     for r, f in zip(logits_real, logits_fake)) / len(logits_real)
        disc_opt.zero_grad()
        d_loss.backward()
        disc_opt.step()
        # Generator: each loss's gradient at y, balanced (EnCodec), one backward.
        logits_fake, fmap_fake = disc(y)
        with torch.no_grad():
            _, fmap_real = disc(x)
        adv = sum(torch.relu(1 - f).mean() for f in logits_fake) / len(logits_fake)
        feat = sum((fr - ff).abs().mean() / (fr.abs().mean() + 1e-8)
                   for mr, mf in zip(fmap_real, fmap_fake) for fr, ff in zip(mr, mf))
        feat = feat / sum(len(m) for m in fmap_fake)
        terms = {"l1": (x - y).abs().mean(), "mel": mel_loss(x[:, 0], y[:, 0]), "adv": adv,
                 "feat": feat}
        grads = {}
        for k, loss in terms.items():
            (g,) = torch.autograd.grad(loss, [y], retain_graph=True)
            norm = g.flatten(1).norm(dim=1).mean().item()
            norms[k] = norm if norms[k] is None else 0.999 * norms[k] + norm
            grads[k] = g
        total_w = sum(weights.values())
        out_grad = sum(weights[k] / total_w * grads[k] / (norms[k] + 1e-12) for k in grads)
        gen_opt.zero_grad()
        torch.autograd.backward([y, qres.penalty], [out_grad, torch.ones_like(qres.penalty)])
        gen_opt.step()

    step()  # warm-up
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    step_s = statistics.median(times)
    params = sum(p.numel() for p in model.parameters())
    disc_params = sum(p.numel() for p in disc.parameters())
    return {"config": "EnCodec 24 kHz (PyTorch)", "batch": f"{batch} x {seconds:.2f} s",
            "step_s": step_s, "audio_s_per_s": batch * seconds / step_s, "torch": torch.__version__,
            "threads": threads, "params": params, "disc_params": disc_params,
            "times": [round(t, 3) for t in times]}
