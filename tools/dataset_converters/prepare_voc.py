"""Convert PASCAL VOC 2007+2012 to the COCO-format files the VOC configs read.

    python tools/dataset_converters/prepare_voc.py data/VOCdevkit
    python tools/dataset_converters/prepare_voc.py data/VOCdevkit --years 2007  # 07 trainval only

Reads ``VOC<year>/ImageSets/Main/{trainval,test}.txt`` and ``VOC<year>/Annotations/<id>.xml``
under the VOCdevkit directory and writes, into ``--out-dir`` (default
``<VOCdevkit>/annotations``):

- ``voc0712_trainval.json``: the trainval images of ``--years`` (default 2007 and 2012,
  whichever are present; the summary and the file's ``info`` say which were used);
- ``voc07_test.json``: the VOC2007 test images (the standard VOC test set, whatever
  ``--years`` says).

Image ``file_name``\\ s are ``VOC<year>/JPEGImages/<id>.jpg``, relative to the VOCdevkit
directory, which is what ``configs/_base_/datasets/voc0712_coco-format.py`` expects
(``data_root='data/VOCdevkit/'``, ``data_prefix=dict(img='')``).

The output is what mmdet 3.3's own converter writes (``tools/dataset_converters/pascal_voc.py
--out-format coco``, ``parse_xml`` and ``cvt_to_coco_json``; the mmdet wheel carries a copy in
``mmdet/.mim/tools/``), file for file, plus an ``info`` entry. Its conventions:

- boxes: VOC's 1-based pixel corners minus 1, ``[xmin - 1, ymin - 1, xmax - xmin, ymax -
  ymin]`` (so the width is ``xmax - xmin``, not ``+ 1``), integer; ``area = w * h``; a
  ``segmentation`` with the box's four corners. Coordinates are read with ``int(float(.))``
  like mmdet's ``XMLDataset`` (mmdet's converter reads ``int(.)``, the same on VOC's integers);
- ``difficult`` objects are kept with ``iscrowd=1`` (and ``ignore=0``). mmdet's
  ``CocoDataset`` turns ``iscrowd`` into ``ignore_flag=1``, so they are not trained on, and
  ``CocoMetric`` (pycocotools) treats them as ignore regions: a detection on one is neither
  a true nor a false positive, as in VOC's own evaluation. Per image, the non-difficult
  objects come first, then the difficult ones, each in XML order;
- category ids 0-19 in VOC order (mmdet's ``voc_classes()``, the configs' ``classes``),
  supercategory ``'none'``; image and annotation ids count from 0 over the whole file, in
  ImageSets order, years in the order given.
"""
import argparse
import json
import os
import os.path as osp
import sys
import xml.etree.ElementTree as ET
from typing import Dict, List, Optional, Sequence

# Make `import mmka` work from a plain checkout too (before `pip install -e .`).
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from mmka.datasets.partitions import VOC_CLASSES  # noqa: E402

YEARS = ('2007', '2012')
TRAINVAL_FILE = 'voc0712_trainval.json'
TEST_FILE = 'voc07_test.json'
# The archive that holds each (year, split), for the "how to fix it" part of errors.
ARCHIVES = {('2007', 'trainval'): 'VOCtrainval_06-Nov-2007.tar',
            ('2007', 'test'): 'VOCtest_06-Nov-2007.tar',
            ('2012', 'trainval'): 'VOCtrainval_11-May-2012.tar'}
LABEL_IDS = {name: i for i, name in enumerate(VOC_CLASSES)}


def _extract_hint(data_root: str, year: str, split: str) -> str:
    archive = ARCHIVES.get((year, split), f'the VOC{year} {split} archive')
    return (f'extract {archive} into the directory above {data_root!r} (`tar xf {archive} -C '
            f'{osp.dirname(osp.abspath(data_root))}`; it unpacks into VOCdevkit/VOC{year})')


def find_years(data_root: str, years: Optional[Sequence[str]] = None) -> List[str]:
    """The trainval years to use: ``years`` (each must exist) or, if None, those of 2007 and
    2012 that are present under ``data_root``."""
    if not osp.isdir(data_root):
        raise FileNotFoundError(f'VOCdevkit directory {data_root!r} does not exist; pass the '
                                'directory that holds VOC2007/ and VOC2012/.')
    if years is None:
        found = [y for y in YEARS if osp.isdir(osp.join(data_root, f'VOC{y}'))]
        if not found:
            raise FileNotFoundError(
                f'{data_root!r} holds neither VOC2007/ nor VOC2012/; pass the VOCdevkit '
                f'directory itself, or {_extract_hint(data_root, "2007", "trainval")}.')
        return found
    years = list(dict.fromkeys(years))  # a year given twice would list its images twice
    for year in years:
        if year not in YEARS:
            raise ValueError(f'Unknown VOC year {year!r}; the VOC configs use {YEARS}.')
        if not osp.isdir(osp.join(data_root, f'VOC{year}')):
            raise FileNotFoundError(
                f'{osp.join(data_root, f"VOC{year}")!r} does not exist: '
                f'{_extract_hint(data_root, year, "trainval")}, or leave VOC{year} out of '
                '--years.')
    return years


def _find(elem: ET.Element, tag: str, xml_path: str) -> ET.Element:
    found = elem.find(tag)
    if found is None or (len(found) == 0 and not (found.text or '').strip()):
        raise ValueError(f'{xml_path}: <{elem.tag}> has no <{tag}>; the file is damaged, '
                         're-extract it from the VOC archive.')
    return found


def _int(elem: ET.Element, tag: str, xml_path: str) -> int:
    """``int(float(text))`` of ``elem``'s child ``tag``, as mmdet's XMLDataset reads numbers."""
    text = _find(elem, tag, xml_path).text.strip()
    try:
        return int(float(text))
    except ValueError:
        raise ValueError(f'{xml_path}: <{tag}> of <{elem.tag}> is {text!r}, not a number; the '
                         'file is damaged, re-extract it from the VOC archive.') from None


def parse_xml(xml_path: str, img_path: str) -> dict:
    """One VOC annotation: ``dict(width, height, objects=[(category_id, [x, y, w, h],
    difficult), ...])`` in COCO pixel convention; ``img_path`` is read only for an XML
    without ``<size>`` (as mmdet's XMLDataset does)."""
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as err:
        raise ValueError(f'{xml_path}: malformed XML ({err}); re-extract it from the VOC '
                         'archive.') from None
    size = root.find('size')
    if size is not None:
        width, height = _int(size, 'width', xml_path), _int(size, 'height', xml_path)
    else:  # VOC's own files all have <size>; read the image like mmdet's XMLDataset does
        from PIL import Image
        with Image.open(img_path) as img:
            width, height = img.size
    objects = []
    for obj in root.findall('object'):
        name = _find(obj, 'name', xml_path).text.strip()
        if name not in LABEL_IDS:
            raise ValueError(f'{xml_path}: unknown class {name!r}; VOC classes are '
                             f'{list(VOC_CLASSES)}. Fix the <name> or remove the object.')
        # No <difficult>: not difficult (mmdet's XMLDataset; its converter would crash).
        difficult = _int(obj, 'difficult', xml_path) if obj.find('difficult') is not None else 0
        box = _find(obj, 'bndbox', xml_path)
        # VOC corners are 1-based pixel indices; mmdet subtracts 1 from all four.
        x1, y1, x2, y2 = (_int(box, k, xml_path) - 1 for k in ('xmin', 'ymin', 'xmax', 'ymax'))
        objects.append((LABEL_IDS[name], [x1, y1, x2 - x1, y2 - y1], bool(difficult)))
    # mmdet's converter lists the non-difficult objects of an image first.
    objects.sort(key=lambda o: o[2])
    return dict(width=width, height=height, objects=objects)


def read_image_set(data_root: str, year: str, split: str) -> List[str]:
    """The image ids of ``VOC<year>/ImageSets/Main/<split>.txt``."""
    path = osp.join(data_root, f'VOC{year}', 'ImageSets', 'Main', f'{split}.txt')
    if not osp.isfile(path):
        raise FileNotFoundError(f'Image set {path!r} does not exist: '
                                f'{_extract_hint(data_root, year, split)}.')
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def convert_split(data_root: str, years: Sequence[str], split: str) -> dict:
    """COCO-format dict of the ``split`` images of ``years``, in mmdet's converter's layout."""
    ids = {year: read_image_set(data_root, year, split) for year in years}  # all, before parsing
    images, annotations = [], []
    for year in years:
        missing = [i for i in ids[year]
                   if not osp.isfile(osp.join(data_root, f'VOC{year}', 'JPEGImages', f'{i}.jpg'))]
        if missing:
            raise FileNotFoundError(
                f'{len(missing)} VOC{year} {split} images are missing, e.g. '
                f'{osp.join(data_root, f"VOC{year}", "JPEGImages", missing[0] + ".jpg")!r}: '
                f'{_extract_hint(data_root, year, split)}.')
        for img_id in ids[year]:
            file_name = f'VOC{year}/JPEGImages/{img_id}.jpg'
            xml_path = osp.join(data_root, f'VOC{year}', 'Annotations', f'{img_id}.xml')
            if not osp.isfile(xml_path):
                raise FileNotFoundError(f'Annotation {xml_path!r} (listed in VOC{year} {split}) '
                                        f'does not exist: {_extract_hint(data_root, year, split)}.')
            ann = parse_xml(xml_path, osp.join(data_root, file_name))
            image_id = len(images)
            images.append(dict(id=image_id, file_name=file_name, height=ann['height'],
                               width=ann['width']))
            for category_id, (x, y, w, h), difficult in ann['objects']:
                annotations.append(dict(
                    segmentation=[[x, y, x, y + h, x + w, y + h, x + w, y]], area=w * h,
                    ignore=0, iscrowd=int(difficult), image_id=image_id, bbox=[x, y, w, h],
                    category_id=category_id, id=len(annotations)))
    categories = [dict(supercategory='none', id=i, name=n) for i, n in enumerate(VOC_CLASSES)]
    info = dict(description=f'PASCAL VOC {"+".join(years)} {split}, converted by '
                'tools/dataset_converters/prepare_voc.py (mmdet conventions)',
                years=list(years), split=split)
    return dict(info=info, images=images, type='instance', categories=categories,
                annotations=annotations)


def prepare_voc(data_root: str, out_dir: Optional[str] = None,
                years: Optional[Sequence[str]] = None) -> Dict[str, dict]:
    """Write voc0712_trainval.json and voc07_test.json; ``{path: coco dict}``.

    Both splits are converted before either file is written, so an error leaves no
    half-prepared annotation directory.
    """
    years = find_years(data_root, years)
    out_dir = out_dir or osp.join(data_root, 'annotations')
    # Check every image set first: a missing VOC2007 test should not wait for 16k XMLs.
    for year, split in [(y, 'trainval') for y in years] + [('2007', 'test')]:
        read_image_set(data_root, year, split)
    results = {osp.join(out_dir, TRAINVAL_FILE): convert_split(data_root, years, 'trainval'),
               osp.join(out_dir, TEST_FILE): convert_split(data_root, ['2007'], 'test')}
    os.makedirs(out_dir, exist_ok=True)
    for path, coco in results.items():
        with open(path, 'w') as f:
            json.dump(coco, f)
    return results


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('data_root', help='the VOCdevkit directory (holds VOC2007/, VOC2012/)')
    parser.add_argument('--out-dir', help='where the JSON files go (default: '
                        'DATA_ROOT/annotations, where the VOC configs look)')
    parser.add_argument('--years', nargs='+', choices=YEARS,
                        help='trainval years (default: 2007 and 2012, whichever exist); the '
                        'test file is always VOC2007 test')
    return parser.parse_args(argv)


def main(argv=None) -> Dict[str, dict]:
    """Convert, write, and print what each file holds."""
    args = parse_args(argv)
    results = prepare_voc(args.data_root, args.out_dir, args.years)
    for path, coco in results.items():
        info, anns = coco['info'], coco['annotations']
        difficult = sum(a['iscrowd'] for a in anns)
        print(f'{path}: VOC {"+".join(info["years"])} {info["split"]}, '
              f'{len(coco["images"])} images, {len(anns)} objects ({difficult} difficult, '
              'kept as iscrowd=1)')
        if info['split'] == 'trainval' and info['years'] != list(YEARS):
            print(f'note: {osp.basename(path)} holds VOC {"+".join(info["years"])} trainval '
                  'only, not the paper\'s 2007+2012.')
    return results


if __name__ == '__main__':
    main()
