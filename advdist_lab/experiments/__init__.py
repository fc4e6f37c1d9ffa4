"""The TPAMI paper's experiments, run with the library and set beside the paper's numbers.

Where each artefact of TPAMI ("Adversarial Distillation for Learning with Privileged Provisions") is assembled:

* :mod:`~advdist_lab.experiments.table1`: Table 1 (deep model compression), the paper's ``TPAMI_TABLE1`` and
  ours from runs of every method, ``n`` and seed (``advdist-lab table1``).
* :mod:`~advdist_lab.experiments.table4` and :mod:`~advdist_lab.experiments.table4_runs`: Table 4 (image tag
  recommendation), the paper's ``TPAMI_TABLE4``, our runs (``advdist-lab table4``) and Fig. 9's curves.
* :mod:`~advdist_lab.experiments.ablation`: Figs. 3 and 6 (and Fig. 11 on tags), hyperparameter sweeps of ADIM;
  :mod:`~advdist_lab.experiments.ablation_analysis`: what they show beside the paper's ``TPAMI_ABLATION_CLAIMS``.
* :mod:`~advdist_lab.experiments.gradients`: Figs. 4, 5 and 7, probed runs: gradient variance, alignment, speed.
* :mod:`~advdist_lab.experiments.tables`: the formatting every table shares (mean ± std, markdown);
  :mod:`~advdist_lab.experiments.curves`: training curves per method, their mean, settling epoch and wobble.
* :mod:`~advdist_lab.experiments.compression_analysis` and :mod:`~advdist_lab.experiments.gradient_analysis`:
  the computed verdicts of notebooks 04 and 05 (rankings, settling epochs, which claim of the paper holds).
* :mod:`~advdist_lab.experiments.measured`, :mod:`~advdist_lab.experiments.measured_export` and
  :mod:`~advdist_lab.experiments.measured_report`: a measured Table 1 shipped in ``results/`` (the folder and its
  reader, the export from a ``table1`` run folder, the report beside the paper's; ``advdist-lab table1-report``);
  :mod:`~advdist_lab.experiments.ranking_sentences`: ranking sentences computed from a table.
* :mod:`~advdist_lab.experiments.privileged`: the privileged setting (the student sees a degraded view), every
  method against the student trained alone on its view (``advdist-lab privileged``, notebook 10).
* :mod:`~advdist_lab.experiments.tag_figures`: Figs. 8 and 10 on the tag data;
  :mod:`~advdist_lab.experiments.presets`: the presets of ``advdist-lab sweep --preset``.
* :mod:`~advdist_lab.experiments.concrete_score`: the literal Eq. 11 estimator beside the others (notebook 05).

The robust-distillation papers' tables (DFARD, DERD) are :mod:`advdist_lab.robust`'s.
"""
