#!/usr/bin/python3
"""Independent NumPy reference for GoPEFT's transferability scores.

Written from the papers' formulas, not from the Go code:
  LogME   You et al. 2021, "LogME: Practical Assessment of Pre-trained Models
          for Transfer Learning" (Algorithm 1; MacKay's fixed point),
  H-score Bao et al. 2019, "An Information-Theoretic Approach to
          Transferability in Task Transfer Learning",
  LEEP    Nguyen et al. 2020, "LEEP: A New Measure to Evaluate Transferability
          of Learned Representations".

Usage: reference.py FILE.jsonl   (lines {"features": [...], "label": int},
optionally "probs": [...] for LEEP) prints {"logme": ..., "hscore": ..., "leep": ...}.
Needs only Debian's python3-numpy.
"""
import json
import sys

import numpy as np


def logme(f, y):
    """Mean over classes of max_{alpha,beta} log p(y_c | F, alpha, beta) / n."""
    n, d = f.shape
    # Eigen-decomposition of F^T F through the SVD of F (not eigh of a Gram).
    _, s, vt = np.linalg.svd(f, full_matrices=True)
    sigma2 = np.zeros(d)
    sigma2[: len(s)] = s ** 2
    scores = []
    for c in range(y.max() + 1):
        t = (y == c).astype(np.float64)
        alpha, beta = 1.0, 1.0
        for _ in range(10000):
            a = alpha * np.eye(d) + beta * f.T @ f
            m = beta * np.linalg.solve(a, f.T @ t)
            gamma = np.sum(beta * sigma2 / (alpha + beta * sigma2))
            new_alpha = gamma / (m @ m)
            new_beta = (n - gamma) / np.sum((f @ m - t) ** 2)
            done = abs(new_alpha - alpha) <= 1e-12 * alpha and abs(new_beta - beta) <= 1e-12 * beta
            alpha, beta = new_alpha, new_beta
            if done:
                break
        a = alpha * np.eye(d) + beta * f.T @ f
        m = beta * np.linalg.solve(a, f.T @ t)
        _, logdet = np.linalg.slogdet(a)
        evidence = (n / 2 * np.log(beta) + d / 2 * np.log(alpha) - n / 2 * np.log(2 * np.pi)
                    - beta / 2 * np.sum((f @ m - t) ** 2) - alpha / 2 * (m @ m) - logdet / 2)
        scores.append(evidence / n)
    return float(np.mean(scores))


def hscore(f, y):
    """tr(cov(f)^+ cov(E[f|y])), both covariances with 1/n."""
    n = f.shape[0]
    fc = f - f.mean(axis=0)
    cov_f = fc.T @ fc / n
    g = np.zeros_like(fc)
    for c in np.unique(y):
        g[y == c] = fc[y == c].mean(axis=0)
    cov_g = g.T @ g / n
    return float(np.trace(np.linalg.pinv(cov_f, rcond=1e-10, hermitian=True) @ cov_g))


def leep(theta, y):
    """1/n sum_i log sum_z P(y_i|z) theta_iz, P from the empirical joint."""
    n = theta.shape[0]
    k = y.max() + 1
    joint = np.zeros((k, theta.shape[1]))
    for c in range(k):
        joint[c] = theta[y == c].sum(axis=0) / n
    cond = joint / joint.sum(axis=0, keepdims=True)
    eep = theta @ cond.T  # [n, k]
    return float(np.mean(np.log(eep[np.arange(n), y])))


def main(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    f = np.array([r["features"] for r in rows], dtype=np.float64)
    y = np.array([r["label"] for r in rows], dtype=np.int64)
    out = {"logme": logme(f, y), "hscore": hscore(f, y)}
    if all("probs" in r for r in rows):
        out["leep"] = leep(np.array([r["probs"] for r in rows], dtype=np.float64), y)
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main(sys.argv[1])
