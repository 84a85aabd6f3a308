"""tools/test.py on the checkpoint of the tiny training run."""

import os
import pickle
import re


def test_test_prints_coco_metrics_saves_drawings_and_dump(tested):
    text = tested['proc'].stdout + tested['proc'].stderr
    assert 'Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all' in text
    assert re.search(r'coco/bbox_mAP: \d\.\d{4}', text)
    shown = re.search(r'drawn detections saved in (\S+)', text).group(1)
    assert shown.startswith(tested['work_dir'])
    assert sorted(os.listdir(shown)) == [f'{i:06d}.jpg' for i in range(8)]
    with open(tested['out'], 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == 8 and {'pred_instances', 'img_path'} <= set(preds[0])
    assert len(preds[0]['pred_instances']['scores']) > 0
