"""Images: a folder of JPEG/PNG images by class (`read_folder`, `--dataset=folder:PATH`), and
resizing (`resized`), for inputs.py's data sets. Files are read and decoded by TensorFlow
(`tf.io.decode_image`), one at a time, so that a file that does not decode can be named.
"""

import os

import numpy as np
import tensorflow as tf

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")


def read_folder(path, size, log):
    """folder:PATH's images: x (uint8 (N, H, W, C)), y (int64 (N,)), where the test split
    starts in them (None: no test/ folder, all are training images) and the class names,
    sorted; label i is class_names[i].

    The rules, each a one-line ValueError naming the path: PATH is a folder holding at least two
    class folders (its subfolders but `test`; hidden ones are skipped), each holding at least one
    image; every file in a class folder but hidden ones is a JPEG or PNG image that decodes;
    all images are one size unless `size` resizes them (said in a `log` line). `PATH/test`, if
    there, holds the test split in class folders named as training ones. The images keep one channel
    if every one is grayscale, else get three (gray repeated, alpha dropped).
    """
    where = f"folder:{path}"
    if not path:
        raise ValueError("folder: needs a path, as in folder:data/flowers")
    if not os.path.isdir(path):
        raise ValueError(f"{where}: no such folder")
    class_names = _class_folders(where, path, "")
    if len(class_names) == 1:
        raise ValueError(f"{where}: one class folder ({class_names[0]}), need at least 2")
    files = _image_files(where, path, "", class_names, class_names)
    test_dir = os.path.join(path, "test")
    has_test = os.path.isdir(test_dir)
    if has_test:
        test_classes = _class_folders(where, test_dir, "test/")
        unknown = [name for name in test_classes if name not in class_names]
        if unknown:
            raise ValueError(f"{where}: test/{unknown[0]} is not one of the class folders "
                             f"({', '.join(class_names)})")
        test_files = _image_files(where, test_dir, "test/", test_classes, class_names)
    else:
        test_files = []
    images = _decode_images(where, files + test_files, size, log)
    x = np.stack(images)  # (N, H, W, C) uint8
    y = np.array([label for _, label, _ in files + test_files], np.int64)
    return x, y, len(files) if has_test else None, class_names


def _class_folders(where, folder, prefix):
    """The sorted names of `folder`'s subfolders, hidden ones and (at the top) test/ aside."""
    names = sorted(entry.name for entry in os.scandir(folder)
                   if entry.is_dir() and not entry.name.startswith(".")
                   and not (prefix == "" and entry.name == "test"))
    if not names:
        inside = f" in {prefix}" if prefix else ""
        raise ValueError(f"{where}: no class folders{inside} (expected one subfolder of JPEG/PNG "
                         f"images per class)")
    return names


def _image_files(where, folder, prefix, classes, class_names):
    """(file path, label, name relative to the data set's folder) of each image of the class
    folders `classes` of `folder`, sorted."""
    files = []
    for name in classes:
        entries = sorted((entry for entry in os.scandir(os.path.join(folder, name))
                          if not entry.name.startswith(".")), key=lambda entry: entry.name)
        for entry in entries:
            relative = f"{prefix}{name}/{entry.name}"
            if not entry.is_file() or not entry.name.lower().endswith(IMAGE_EXTENSIONS):
                raise ValueError(f"{where}: {relative} is not a JPEG or PNG image")
            files.append((entry.path, class_names.index(name), relative))
        if not entries:
            raise ValueError(f"{where}: class folder {prefix}{name} has no images")
    return files


def _decode_images(where, files, size, log):
    """The images of `files` (file path, label, relative name), uint8 (H, W, C), all of one
    channel count (see `read_folder`) and of one size: `size` (height, width) if not None."""
    images = []
    for path, _, relative in files:
        try:
            # One file at a time, so that a file that does not decode can be named.
            images.append(tf.io.decode_image(tf.io.read_file(path),
                                             expand_animations=False).numpy())
        except tf.errors.OpError:
            raise ValueError(f"{where}: {relative} is not a JPEG or PNG image") from None
    channels = 1 if all(image.shape[-1] <= 2 for image in images) else 3
    images = [_with_channels(image, channels) for image in images]
    sizes = {}  # (height, width) -> the first file of that size
    for image, (_, _, relative) in zip(images, files):
        sizes.setdefault(tuple(image.shape[:2]), relative)
    if size is None and len(sizes) > 1:
        (size_a, file_a), (size_b, file_b) = list(sizes.items())[:2]
        raise ValueError(f"{where}: images differ in size ({hxw(size_a)} {file_a}, "
                         f"{hxw(size_b)} {file_b}); give an input size (--input_size) to "
                         f"resize them")
    done = 0
    for own_size in sizes.keys() - {size} if size is not None else ():
        # Images of one size are resized a batch at a time: one by one takes 10 times longer.
        index = [i for i, image in enumerate(images) if image.shape[:2] == own_size]
        for start in range(0, len(index), 1024):
            chunk = index[start:start + 1024]
            batch = resized(np.stack([images[i] for i in chunk]), size).numpy()  # (B, h, w, C)
            for i, image in zip(chunk, batch):
                images[i] = image
        done += len(index)
    if done:
        log(f"{where}: {done} of {len(images)} images resized to {hxw(size)}")
    return images


def _with_channels(image, channels):
    """uint8 (H, W, c), c = 1 (gray), 2 (gray, alpha), 3 (RGB) or 4 (RGBA) -> (H, W, channels),
    channels 1 or 3: alpha dropped, gray repeated."""
    if image.shape[-1] <= 2:
        return np.repeat(image[..., :1], channels, axis=-1)
    return image[..., :3]


def hxw(size):
    """(height, width) -> "HxW"."""
    return f"{size[0]}x{size[1]}"


def resized(image, size):
    """uint8 image (H, W, C) or batch (B, H, W, C) -> the same resized to `size` (height,
    width), bilinear with antialiasing (when shrinking), rounded back to uint8."""
    image = tf.image.resize(image, size, antialias=True)  # float32
    return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
