// The image files under the folders `sdvk index` is given, with the size and modification time
// that decide whether a file must be embedded again.
#pragma once
#include <string>
#include <vector>

#include "index/image_index.h"

namespace sdvk {

struct ImageFile {
  std::string path;  // absolute and canonical: the index's key
  FileStamp stamp;
};

// Every regular file named *.png, *.jpg, *.jpeg or *.bmp (any case) under `dirs`, recursively,
// each once, sorted by path; `roots` gets the folders' canonical paths. A folder that is
// missing or not a folder is an Error naming it; subfolders that cannot be read are skipped.
std::vector<ImageFile> find_images(const std::vector<std::string>& dirs, std::vector<std::string>* roots);

// The files `paths` names (the images of generate's manifests), canonical, each once, sorted by
// path; a path that is missing or not a regular file goes to `missing` instead.
std::vector<ImageFile> listed_images(const std::vector<std::string>& paths, std::vector<std::string>* missing);

// Whether `path` lies under the folder `root` (both canonical).
bool is_under(const std::string& path, const std::string& root);

}  // namespace sdvk
