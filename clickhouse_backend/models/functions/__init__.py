"""ClickHouse functions as Django expressions, by ClickHouse's names
(``toYYYYMMDD``, ``sipHash64``…), in the submodules django-clickhouse-backend
has: datetime, hashes, json, tuples, random, other."""
from .base import Func  # noqa: F401
from .datetime import *  # noqa: F401,F403
from .datetime import __all__ as _datetime
from .hashes import *  # noqa: F401,F403
from .hashes import __all__ as _hashes
from .json import *  # noqa: F401,F403
from .json import __all__ as _json
from .other import *  # noqa: F401,F403
from .other import __all__ as _other
from .random import *  # noqa: F401,F403
from .random import __all__ as _random
from .tuples import *  # noqa: F401,F403
from .tuples import __all__ as _tuples

__all__ = [*_datetime, *_hashes, *_json, *_other, *_random, *_tuples]
