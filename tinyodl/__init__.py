"""tinyodl: trained model -> CMSIS-based C firmware for STM32, with on-device learning."""

__version__ = "0.1.0"
