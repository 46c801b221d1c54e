"""The paper's numbers, as data: what each script of reproduce/ prints beside ours.

From the paper's text and tables and the authors' released README (Tables 1 and 2's parameter
memory). The paper's "MB" convention (10^6 or 2^20 bytes) is not stated.
"""

# Table 1, CIFAR-10: total memory (MB), parameter memory (MB, from the authors' README), top-1 %.
TABLE1 = {
    "MobileNet-V2": (16.3, 13.9, 94.1),
    "ResNet-110": (9.9, 6.8, 93.5),
    "ResNet-56": (6.7, 3.4, 93.0),
    "ShuffleNet": (8.3, 3.6, 92.2),
    "CondenseNet-86": (8.1, 2.1, 94.9),
    "CondenseNet-50": (6.8, 1.0, 93.7),
    "DPPNet-P": (8.1, 2.1, 95.3),
    "DPPNet-M": (7.7, 1.8, 94.1),
    "MemNAS (lambda=0.5)": (5.8, 0.8, 94.0),
    "MemNAS (lambda=0.8)": (6.4, 1.8, 95.7),
}

# Table 2, ImageNet: total memory (MB), inference latency (ms, None if not given), top-1 %.
TABLE2 = {
    "CondenseNet (G=C=8)": (24.4, None, 71.0),
    "ShuffleNet V1 (1.5x)": (25.1, None, 71.5),
    "MobileNet V2 (1.0x)": (33.1, 75, 71.8),
    "ShuffleNet V2 (1.5x)": (26.1, None, 72.6),
    "DVOLER-C": (29.5, None, 70.2),
    "EMNAS": (54.0, None, 71.7),
    "FBNet-A": (29.0, None, 73.0),
    "MnasNet (DM=0.75)": (27.4, 61, 73.3),
    "DARTS": (31.0, None, 73.3),
    "NASNet (Mobile)": (53.2, 183, 73.5),
    "MemNAS-A": (22.8, 58, 74.1),
    "CondenseNet (G=C=4)": (31.6, None, 73.8),
    "ShuffleNet V1 (2.0x)": (33.5, None, 73.7),
    "MobileNet V2 (1.4x)": (48.5, None, 74.7),
    "ShuffleNet V2 (2.0x)": (51.6, None, 74.9),
    "DPPNet-P (PPPNet)": (34.7, None, 74.0),
    "ProxylessNAS-M": (36.2, 78, 74.6),
    "DVOLER-A": (39.1, None, 74.8),
    "FBNet-C": (35.2, None, 74.9),
    "MnasNet (DM=1)": (36.7, 78, 75.2),
    "MemNAS-B": (28.1, 69, 75.4),
}

# Table 3, controllers: AP@50, AP@100, NDCG@50, NDCG@100.
TABLE3 = {
    "Single-RNN": (0.066, 0.237, 0.043, 0.078),
    "Double-RNN": (0.128, 0.268, 0.062, 0.080),
    "SCC": (0.196, 0.283, 0.135, 0.201),
}

# Figure 3: the memory row of the Figure 1b block with unit node sizes, and its peak.
FIGURE3_ROW = (1, 3, 2, 4, 3, 4, 3, 1)
FIGURE3_PEAK = 4

# Figure 5 (text of Section 4.4): error falls from 9.5 % to 4 % while total memory grows from
# 0.5 MB to over 2.5 MB as lambda goes from 0 to 1.
FIGURE5_LAMBDAS = (0.0, 0.2, 0.5, 0.8, 1.0)

# Figure 4 (Section 4.4): both searches' final networks reach 94.02 % test accuracy (60 epochs);
# lambda 0.5's has 96.7 % less parameter and 28.2 % less intermediate memory than lambda 1's.
FIGURE4_ACCURACY = 94.02
FIGURE4_PARAM_SAVING = 96.7
FIGURE4_ACTIVATION_SAVING = 28.2

# Figure 5: the endpoints the text gives, lambda -> (error %, total memory MB); lambda 1's
# total is "over 2.5".
FIGURE5_ENDPOINTS = {0.0: (9.5, 0.5), 1.0: (4.0, 2.5)}
