// The dataset readers behind open_dataset() (src/io/dataset_open.cpp), one per spec kind. Each
// returns the samples as TensorData; open_dataset() applies the limit, the preprocessing and
// make_dataset().
#pragma once

#include <condense/data.h>

#include <string>

namespace condense::io_internal {

// MNIST-family folder: {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]. Labels must be < 10.
Result<data::TensorData> read_mnist_folder(const std::string& dir, data::Split split);
// CIFAR-10 binary batches from a folder (or its cifar-10-batches-bin/) or a .tar(.gz).
Result<data::TensorData> read_cifar10_binary(const std::string& path, data::Split split);
// x/y arrays from an .npz file or a folder of .npy files.
Result<data::TensorData> read_npy_pair(const std::string& path, data::Split split);

// Keeps the first `limit` samples (limit > 0 and < N), copying them.
void keep_first(data::TensorData& data, int64_t limit);

}  // namespace condense::io_internal
