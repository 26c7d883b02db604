from .array import *  # noqa: F401,F403
from .array import __all__ as _array
from .aggregate import *  # noqa: F401,F403
from .aggregate import __all__ as _aggregate
from .base import FieldMixin  # noqa: F401
from .enum import *  # noqa: F401,F403
from .enum import __all__ as _enum
from .integer import *  # noqa: F401,F403
from .integer import __all__ as _integer
from .ip import *  # noqa: F401,F403
from .ip import __all__ as _ip
from .json import *  # noqa: F401,F403
from .json import __all__ as _json
from .map import *  # noqa: F401,F403
from .map import __all__ as _map
from .numeric import *  # noqa: F401,F403
from .numeric import __all__ as _numeric
from .string import *  # noqa: F401,F403
from .string import __all__ as _string
from .temporal import *  # noqa: F401,F403
from .temporal import __all__ as _temporal
from .tuple import *  # noqa: F401,F403
from .tuple import __all__ as _tuple

__all__ = [*_integer, *_numeric, *_string, *_temporal, *_enum, *_ip, *_array, *_tuple,
           *_map, *_json, *_aggregate]
